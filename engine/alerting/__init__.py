"""From state to people: incidents (open, acknowledge, resolve, silence), metric rules,
escalation and resends, maintenance windows, and delivery trouble when a contact
cannot be reached.
"""
