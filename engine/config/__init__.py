"""Configuration: the TOML file and the SYSALERT_* environment read into typed settings through
pydantic-settings (settings), its sections and declared targets and rules (sections, declared),
checks on the file before and after parsing, `file:line` locations for errors, and the documented
example config.
"""
