# Included right after llama.cpp's project() (CMAKE_PROJECT_llama.cpp_INCLUDE, see `make llamacpp`).
# llama-cpp-python forces LLAMA_BUILD_COMMON ON, but its ctypes binding only loads libllama and
# libggml*: libllama-common (52 objects, about 40% of the compile) would be built for nothing.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp: build common utils library" FORCE)
