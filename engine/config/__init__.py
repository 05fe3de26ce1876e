"""Configuration: the TOML file read into typed settings, checks on the file before and
after parsing, `file:line` locations for errors, and the documented example config.
"""
