"""Local HTTPS stand-ins for Business Central, Dataverse and Entra ID (see DESIGN.md).

`python -m emulators` starts all three; `emulators.stack.start_stack` does the same in-process
for tests and benchmarks.
"""
