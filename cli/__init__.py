"""The command line: click commands and their views (human and JSON).

A front end, like the server: it calls the engine's operations and is the only part that prints to
a terminal. Problems are printed as diagnostics with the user's own line; exit codes are 0 ok,
1 error, 2 changes present (plan --detailed-exitcode), 130 interrupted.
"""
