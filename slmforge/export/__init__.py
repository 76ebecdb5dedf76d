"""Export a trained run: merged safetensors, GGUF (our writer on the gguf package), Ollama, model card.

Every file is loaded back by a real reader and compared with the merged model (export/verify.json).
"""
