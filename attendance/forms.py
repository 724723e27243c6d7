"""Forms of the teacher pages."""

from __future__ import annotations

from typing import Any

from django import forms

from attendance.models import validate_supported_date

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


def _session_date(label: str, *, required: bool = True) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        validators=[validate_supported_date],
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class SessionTimesForm(forms.Form):
    """When a session starts (in the school's time zone), how long it lasts and when students are late."""

    start_time = forms.TimeField(label="Starts at", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    duration_minutes = forms.IntegerField(label="Minutes", min_value=5, max_value=600, initial=90)
    late_after_minutes = forms.IntegerField(label="Late after (minutes)", min_value=0, max_value=600, initial=10)


class SessionEditForm(SessionTimesForm):
    """A scheduled session's new date and times."""

    date = _session_date("Date")
    field_order = ["date", "start_time", "duration_minutes", "late_after_minutes"]


class ScheduleForm(SessionTimesForm):
    first_date = _session_date("Date (first date of a series)")
    repeat_weekly = forms.BooleanField(label="Repeat weekly", required=False)
    last_date = _session_date("Until", required=False)
    weekdays = forms.TypedMultipleChoiceField(
        label="On", choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    field_order = [
        "first_date",
        "start_time",
        "duration_minutes",
        "late_after_minutes",
        "repeat_weekly",
        "last_date",
        "weekdays",
    ]

    def cleaned_data_for_schedule(self) -> dict[str, Any]:
        fields = ["first_date", "last_date", "weekdays", "start_time", "duration_minutes", "late_after_minutes"]
        data = {name: self.cleaned_data[name] for name in fields}
        data["weekdays"] = set(data["weekdays"]) if data["weekdays"] else None
        return data

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("repeat_weekly"):
            if not data.get("last_date"):
                self.add_error("last_date", "A weekly series needs a last date.")
            if not data.get("weekdays"):
                self.add_error("weekdays", "Choose at least one weekday.")
        else:
            data["last_date"] = None
            data["weekdays"] = None
        return data


def _refuse_surrogates(text: str) -> str:
    # JSON can spell a lone surrogate (\ud800), which no database encoding stores; DRF refuses it too.
    if any(0xD800 <= ord(character) <= 0xDFFF for character in text):
        raise forms.ValidationError("Surrogate characters are not allowed.")
    return text


class RecordForm(forms.Form):
    """A decision on the session page: the fields of its JSON body (the service checks the status;
    "unseen" undoes)."""

    student_id = forms.IntegerField()
    status = forms.CharField()
    # Django's CharField refuses NUL characters (PostgreSQL cannot store them), as DRF's does.
    note = forms.CharField(max_length=500, required=False)

    def clean_note(self) -> str:
        return _refuse_surrogates(self.cleaned_data["note"])


class BulkRecordForm(forms.Form):
    """The status for everyone not seen yet (the service checks it)."""

    status = forms.CharField()
