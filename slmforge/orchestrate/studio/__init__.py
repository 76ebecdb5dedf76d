"""`slmforge studio`: the whole job in a browser — runs, a recipe form, data, comparison, a playground.

A FastAPI app over the run directories (runs/): it reads what the stages wrote, starts `slmforge run`
as a child process, and serves a static front end (static/, vanilla JS + vendored uPlot).
"""
