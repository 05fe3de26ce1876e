"""When things run: the scheduler that dispatches due checks to workers, and the calendar
and cron arithmetic (maintenance windows, DST-correct) as pure functions of `now`.
"""
