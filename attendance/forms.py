"""Forms of the teacher pages."""

from __future__ import annotations

from typing import Any

from django import forms

from attendance.models import validate_supported_date

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class ScheduleForm(forms.Form):
    first_date = forms.DateField(
        label="Date (first date of a series)",
        validators=[validate_supported_date],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    start_time = forms.TimeField(label="Starts at", widget=forms.TimeInput(attrs={"type": "time"}))
    duration_minutes = forms.IntegerField(label="Minutes", min_value=5, max_value=600, initial=90)
    late_after_minutes = forms.IntegerField(label="Late after (minutes)", min_value=0, max_value=600, initial=10)
    repeat_weekly = forms.BooleanField(label="Repeat weekly", required=False)
    last_date = forms.DateField(
        label="Until",
        required=False,
        validators=[validate_supported_date],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label="On", choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

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


class RecordForm(forms.Form):
    """A decision on the session page: the fields of its JSON body (the service checks the status)."""

    student_id = forms.IntegerField()
    status = forms.CharField()
    # Django's CharField refuses NUL characters (PostgreSQL cannot store them), as DRF's does.
    note = forms.CharField(max_length=500, required=False)

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"]
        # JSON can spell a lone surrogate (\ud800), which no database encoding stores; DRF refuses it too.
        if any(0xD800 <= ord(character) <= 0xDFFF for character in note):
            raise forms.ValidationError("Surrogate characters are not allowed.")
        return note
