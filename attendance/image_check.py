"""Who the system sees in a photo, for staff checking recognition: nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attendance.models import Course
from attendance.selectors import course_student_ids
from recognition.engine import get_engine
from recognition.identify import CheckedFace, check_faces
from students.models import Student
from students.selectors import gallery_for


@dataclass(frozen=True)
class ImageCheck:
    faces: list[CheckedFace]
    # The nearest students of the faces (and who an uncertain face may be), by id.
    students: dict[int, Student]
    # How many students the faces were matched against (those with a recognisable photo).
    gallery_size: int


def image_check(*, image: np.ndarray, course: Course | None = None) -> ImageCheck:
    """The faces of an RGB image matched against the course's students (default: every student
    recognition may use). Raises FaceModelUnavailable."""
    student_ids = None if course is None else course_student_ids(code=course.code)
    engine = get_engine()
    gallery = gallery_for(model_id=engine.model_id, student_ids=student_ids)
    faces = check_faces(engine=engine, image=image, gallery=gallery)
    ids = {face.match.nearest_student_id for face in faces if face.match and face.match.nearest_student_id is not None}
    return ImageCheck(faces=faces, students=Student.objects.in_bulk(ids), gallery_size=len(gallery))
