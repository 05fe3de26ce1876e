"""From state to people: incidents (open, acknowledge, resolve, silence), metric rules,
escalation and resends, maintenance windows, and delivery trouble when a contact
cannot be reached. The rows live in engine.store (incidents, windows, rules); what alerting
uses from the engine is declared in `ports`.
"""
