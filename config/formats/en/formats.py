"""How dates and times read on every page, the admin's included: 24 h, day before month.

Django's own English formats write times as "2:22 p.m."; a school reads its timetable as 14:22.
Times are in the school's time zone (TIME_ZONE, from SCHOOL_TIME_ZONE).
"""

DATE_FORMAT = "D j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "D j M Y, H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1
