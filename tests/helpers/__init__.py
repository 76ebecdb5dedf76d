"""Helpers shared by the tests (data files, recipes, fake judges, child processes). Test modules
import from here, never from each other."""
