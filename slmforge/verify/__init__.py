"""`slmforge verify RUN`: one chat template and one stop token from data preparation to every runtime.

Sits beside report.py at the top of the layers: it reads what data, train and export wrote and
starts our server, so it may import all of them.
"""
