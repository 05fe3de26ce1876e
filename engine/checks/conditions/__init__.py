"""Gatus-syntax conditions: parsing (`[STATUS] == 200`), evaluation against a probe's
facts, and pat() globs matched the way Gatus matches them.
"""
