"""The command line: click commands and their views (human and JSON).

The only place in the engine that prints. Problems are printed as diagnostics with the user's own
line; exit codes are 0 ok, 1 error, 2 changes present (plan --detailed-exitcode), 130 interrupted.
"""
