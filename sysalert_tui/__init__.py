"""The shell: command line, the Textual app, daemon start-up, embedded vs attached engine."""
