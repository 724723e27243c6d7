"""Enrolment: storing student photos and turning each into a face embedding.

Every way in (admin, REST API, `enrol_folder`) calls `photo_create`, which checks the bytes,
stores the photo as `pending` and queues `photo_embed_task` once the transaction commits. The task
calls `photo_enrol`, which accepts a photo with exactly one clear face and stores its embedding,
or rejects it with a reason an admin can act on. With REQUIRE_CONSENT no face of a student without
recorded consent is even detected: the photo is rejected until consent is recorded.

A rejected photo is often of bystanders ("2 faces found"): `photos_delete_expired_files` deletes
its file PHOTO_REJECTED_FILE_HOURS after it was rejected (and the file of any photo of a student
without recorded consent, with REQUIRE_CONSENT), keeping the row and its reason.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from config.web import ApplicationError
from recognition.images import ImageRejected
from recognition.quality import EnrolmentRule, enrolment_face, resemblance
from students.images import photo_decode, photo_inspect
from students.models import Student, StudentPhoto
from students.selectors import gallery_for

if TYPE_CHECKING:
    import numpy as np
    from django.contrib.auth.models import User


logger = logging.getLogger(__name__)

FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WebP": ".webp"}
CONSENT_MISSING = "Consent to face recognition is not recorded for this student; record it, then re-check the photo."
FILE_DELETED = "The photo's file was deleted (a rejected photo is kept only for a while); upload the photo again."


def photo_create(
    *, student: Student, data: bytes, uploaded_by: User | None = None, origin: str = StudentPhoto.Origin.UPLOAD
) -> tuple[StudentPhoto, bool]:
    """Store a checked photo and queue its embedding; `(photo, created)`. `origin` SESSION: the crop
    of a face a teacher assigned on a live page.

    Uploading the same bytes for the same student again returns the existing photo, unless its file
    was deleted: then that row is replaced by the new upload.
    """
    try:
        info = photo_inspect(data)
    except ImageRejected as exc:
        raise ApplicationError(str(exc)) from None
    sha256 = hashlib.sha256(data).hexdigest()
    StudentPhoto.objects.filter(student=student, sha256=sha256, image="").delete()
    existing = StudentPhoto.objects.filter(student=student, sha256=sha256).first()
    if existing is not None:
        return existing, False

    photo = StudentPhoto(
        student=student, sha256=sha256, uploaded_by=uploaded_by, width=info.width, height=info.height, origin=origin
    )
    photo.image.save(f"photo{FORMAT_SUFFIX[info.format]}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            photo.save()
            transaction.on_commit(lambda: _queue_embedding(photo.pk))
    except IntegrityError:
        photo.image.delete(save=False)
        # The same upload stored by a concurrent request (a double click) is that photo.
        existing = StudentPhoto.objects.filter(student=student, sha256=sha256).first()
        if existing is None:
            raise
        return existing, False
    except Exception:
        photo.image.delete(save=False)
        raise
    return photo, True


def upload_bytes(upload: UploadedFile) -> bytes:
    """An upload's bytes, reading at most one byte past the limit so `photo_create` can refuse it."""
    upload.seek(0)
    return upload.read(settings.PHOTO_MAX_BYTES + 1)


def _queue_embedding(photo_id: int) -> None:
    from students.tasks import photo_embed_task

    photo_embed_task.delay(photo_id)


def photo_requeue(*, photo: StudentPhoto) -> StudentPhoto:
    """Compute a photo's embedding again (after a model change, a failure, consent recorded).

    A photo whose file was deleted cannot be: it stays rejected, with a reason asking for a new upload.
    """
    now = timezone.now()
    with transaction.atomic():
        # The row decides, not `photo`: its file may have been deleted since it was loaded.
        with_file = StudentPhoto.objects.filter(pk=photo.pk).exclude(image="")
        if with_file.update(status=StudentPhoto.Status.PENDING, reason="", updated_at=now):
            transaction.on_commit(lambda: _queue_embedding(photo.pk))
        else:
            StudentPhoto.objects.filter(pk=photo.pk).update(
                status=StudentPhoto.Status.REJECTED, reason=FILE_DELETED, updated_at=now
            )
    photo.refresh_from_db()
    return photo


def photos_requeue_stale(*, older_than: datetime.timedelta, limit: int = 500) -> list[int]:
    """Queue again the photos pending for longer than `older_than` (their task was lost); their ids.

    Each photo is locked and checked again before it is queued, so a photo finished meanwhile is
    left alone and two sweeps at once queue it once. Queuing refreshes `updated_at`: a photo is
    queued again at most once per `older_than`. Embedding is idempotent, so a task that was only
    slow, not lost, costs a duplicate that returns at once.
    """
    cutoff = timezone.now() - older_than
    stale = StudentPhoto.objects.filter(status=StudentPhoto.Status.PENDING, updated_at__lt=cutoff)
    requeued = []
    for photo_id in stale.order_by("updated_at").values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            photo = stale.select_for_update(skip_locked=True).filter(pk=photo_id).first()
            if photo is None:
                continue
            photo_requeue(photo=photo)
        requeued.append(photo_id)
    if requeued:
        logger.warning("Queued %d photo(s) pending since before %s again", len(requeued), cutoff.isoformat())
    return requeued


def photos_delete_expired_files(*, older_than: datetime.timedelta) -> list[int]:
    """Delete the files of the photos left unchanged for `older_than` that are rejected or, with
    REQUIRE_CONSENT, of a student without recorded consent; their ids.

    The rows stay, with their reasons, so an admin still sees why a photo was refused; a photo of a
    student without consent that was not rejected (embedded before REQUIRE_CONSENT was turned on)
    is rejected for it and loses its embedding too. Each photo is locked and checked again first,
    and its file is deleted once that commits: a sweep run twice, or two at once, deletes each
    file once, and a failed commit deletes none.
    """
    now = timezone.now()
    expired = StudentPhoto.objects.exclude(image="").filter(updated_at__lt=now - older_than)
    bystanders = Q(status=StudentPhoto.Status.REJECTED)
    if settings.REQUIRE_CONSENT:
        bystanders |= Q(student__consent_given_at__isnull=True) & ~Q(status=StudentPhoto.Status.PENDING)
    expired = expired.filter(bystanders)
    deleted = []
    for photo_id in expired.order_by("updated_at").values_list("pk", flat=True):
        with transaction.atomic():
            photo = expired.select_for_update(skip_locked=True, of=("self",)).filter(pk=photo_id).first()
            if photo is None:
                continue
            fields: dict[str, object] = {"image": "", "updated_at": now}
            if photo.status != StudentPhoto.Status.REJECTED:
                fields |= {"status": StudentPhoto.Status.REJECTED, "reason": CONSENT_MISSING, "embedding": None}
            StudentPhoto.objects.filter(pk=photo_id).update(**fields)
            photo_file_delete_on_commit(photo.image)
        deleted.append(photo_id)
    if deleted:
        logger.info("Deleted the files of %d rejected or unconsented photo(s)", len(deleted))
    return deleted


def photo_file_delete_on_commit(image: FieldFile) -> None:
    """Delete a photo's image file once the current transaction commits (at once outside one).

    Robust: a file that cannot be removed (permissions, a full disk) is logged rather than failing
    the request or sweep whose rows changed; a file already gone is no error.
    """
    storage, name = image.storage, image.name
    if name:
        transaction.on_commit(lambda: storage.delete(name), robust=True)


def photos_requeue_other_model(*, model_id: str) -> int:
    """Compute again every ready photo embedded by another model or crop than `model_id` (after an
    upgrade: other models' vectors are never compared, so those students would go unrecognised)."""
    photos = StudentPhoto.objects.filter(status=StudentPhoto.Status.READY).exclude(embedding_model=model_id)
    count = 0
    for photo in photos.order_by("pk").iterator():
        photo_requeue(photo=photo)
        count += 1
    return count


def photo_enrol(*, photo: StudentPhoto) -> StudentPhoto:
    """Detect the one face in a pending photo and store its embedding, or reject the photo.

    Idempotent: a photo that is no longer pending is returned unchanged, and the final write
    only applies to a row that is still pending, so a redelivered task never writes twice.
    """
    from recognition.engine import FaceModelUnavailable, get_engine

    if photo.status != StudentPhoto.Status.PENDING:
        return photo
    if settings.REQUIRE_CONSENT and not student_has_consent(photo.student_id):
        return _finish(photo, status=StudentPhoto.Status.REJECTED, reason=CONSENT_MISSING)
    try:
        with photo.image.open("rb") as handle:
            data = handle.read()
        image = photo_decode(data)
    except FileNotFoundError:
        return _finish(photo, status=StudentPhoto.Status.FAILED, reason="The image file is missing; upload it again.")
    except ImageRejected as exc:
        return _finish(photo, status=StudentPhoto.Status.REJECTED, reason=str(exc))

    try:
        engine = get_engine()
    except FaceModelUnavailable as exc:
        logger.error("Face model unavailable: %s", exc)
        return _finish(photo, status=StudentPhoto.Status.FAILED, reason=f"Face model unavailable: {exc}")

    face, rejection = enrolment_face(engine.detect(image), enrolment_rule())
    if face is None:
        return _finish(photo, status=StudentPhoto.Status.REJECTED, reason=rejection)
    embedding = engine.embed(image, [face])[0]
    review = _review_reason(student_id=photo.student_id, embedding=embedding, model_id=engine.model_id)
    return _finish(
        photo,
        status=StudentPhoto.Status.REVIEW if review else StudentPhoto.Status.READY,
        reason=review,
        face_box=[round(v, 1) for v in face.box],
        face_probability=round(face.probability, 4),
        embedding=embedding.astype("float32").tobytes(),
        embedding_model=engine.model_id,
    )


def _review_reason(*, student_id: int, embedding: np.ndarray, model_id: str) -> str:
    """Why a new face needs an admin's look before recognition uses it, or "": it is far from the
    student's other photos, or nearer another student's than any of the student's own (a photo
    uploaded for the wrong student would otherwise mark that other student)."""
    found = resemblance(embedding, gallery_for(model_id=model_id), student_id=student_id)
    if found.own_distance is not None and found.own_distance > settings.PHOTO_REVIEW_OWN_DISTANCE:
        return (
            f"Far from this student's other photos (distance {found.own_distance:.2f}): check that it is "
            "the same person, then approve it, or delete it."
        )
    if (
        found.other_student_id is not None
        and found.other_distance is not None
        and found.other_distance < settings.PHOTO_REVIEW_OTHER_DISTANCE
        and (found.own_distance is None or found.other_distance < found.own_distance)
    ):
        other = Student.objects.filter(pk=found.other_student_id).first()
        return (
            f"Close to the photos of {other or 'another student'} (distance {found.other_distance:.2f}): "
            "check that it is this student, then approve it, or delete it."
        )
    return ""


def photo_approve(*, photo: StudentPhoto) -> bool:
    """An admin's word that a photo needing review shows its student: recognition may use it."""
    now = timezone.now()
    return bool(
        StudentPhoto.objects.filter(pk=photo.pk, status=StudentPhoto.Status.REVIEW).update(
            status=StudentPhoto.Status.READY, reason="", updated_at=now
        )
    )


def enrolment_rule() -> EnrolmentRule:
    """The enrolment face rule with this installation's thresholds."""
    return EnrolmentRule(
        face_probability=settings.FACE_MIN_PROBABILITY,
        min_probability=settings.ENROLMENT_MIN_PROBABILITY,
        min_face_px=settings.ENROLMENT_MIN_FACE_PX,
    )


def student_has_consent(student_id: int) -> bool:
    """The school has recorded the student's consent to face recognition (read now: it may have
    been withdrawn since the student was loaded)."""
    return Student.objects.filter(pk=student_id, consent_given_at__isnull=False).exists()


def _finish(photo: StudentPhoto, *, status: str, reason: str = "", **fields: object) -> StudentPhoto:
    now = timezone.now()
    updated = StudentPhoto.objects.filter(pk=photo.pk, status=StudentPhoto.Status.PENDING).update(
        status=status, reason=reason[:300], processed_at=now, updated_at=now, **fields
    )
    if not updated:
        logger.info("Photo %s was finished elsewhere; keeping that result", photo.pk)
    photo.refresh_from_db()
    return photo


def student_get_or_create(
    *, student_number: str, first_name: str = "", last_name: str = "", email: str = ""
) -> tuple[Student, bool]:
    """The student with this number, created with the given names if new (names never overwritten)."""
    return Student.objects.get_or_create(
        student_number=student_number,
        defaults={"first_name": first_name, "last_name": last_name, "email": email},
    )
