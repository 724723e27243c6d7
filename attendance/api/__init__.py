"""The REST API of the attendance app, one module per resource.

Every queryset is scoped by the selectors in attendance/selectors.py, so a teacher sees and changes
only the courses they teach (anything else is a 404); writes go through the same services as the
pages.
"""
