"""Matching on hand-made unit vectors, whose distances are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from recognition.matching import Gallery, Match, MatchRule, match_faces

DIM = 8


def unit(*components: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(components)] = components
    return vector / np.linalg.norm(vector)


def at_distance(base: np.ndarray, distance: float, towards: int) -> np.ndarray:
    """A unit vector at exactly `distance` (L2) from unit `base`, turning towards axis `towards`."""
    other = np.zeros(DIM, dtype=np.float32)
    other[towards] = 1.0
    other -= other.dot(base) * base
    other /= np.linalg.norm(other)
    cosine = 1 - distance**2 / 2
    return (cosine * base + np.sqrt(1 - cosine**2) * other).astype(np.float32)


E0, E1, E2 = unit(1), unit(0, 1), unit(0, 0, 1)


def test_build_groups_rows_by_student_whatever_their_order() -> None:
    gallery = Gallery.build([(7, E1), (3, E0), (7, E2), (3, E1), (5, E2)])

    assert gallery.student_ids.tolist() == [3, 5, 7]
    assert len(gallery) == 3
    assert gallery.embeddings.shape == (5, DIM)
    assert gallery.embeddings.dtype == np.float32
    owners = np.repeat(gallery.student_ids, np.diff([*gallery.starts, len(gallery.embeddings)]))
    assert owners.tolist() == [3, 3, 5, 7, 7]


def test_a_students_distance_is_the_smallest_over_their_photos() -> None:
    face = unit(1)
    gallery = Gallery.build([(1, at_distance(face, 1.2, 1)), (1, at_distance(face, 0.3, 2)), (2, E1)])

    distances = gallery.student_distances(face[None, :])

    np.testing.assert_allclose(distances, [[0.3, np.sqrt(2)]], atol=1e-5)


def test_a_face_is_the_nearest_student_under_the_threshold() -> None:
    face = unit(1)
    gallery = Gallery.build([(1, at_distance(face, 0.9, 1)), (2, at_distance(face, 0.6, 2))])

    [match] = match_faces(face[None, :], gallery, rule=MatchRule(threshold=1.0))

    assert match.student_id == 2
    assert match.nearest_student_id == 2
    assert match.distance == pytest.approx(0.6, abs=1e-5)


def test_a_face_over_the_threshold_is_unknown_but_keeps_its_nearest() -> None:
    face = unit(1)
    gallery = Gallery.build([(1, at_distance(face, 1.05, 1)), (2, at_distance(face, 1.3, 2))])

    [match] = match_faces(face[None, :], gallery, rule=MatchRule(threshold=1.0))

    assert match.student_id is None
    assert match.nearest_student_id == 1
    assert match.distance == pytest.approx(1.05, abs=1e-5)


def test_one_student_goes_to_only_one_face_of_an_image_the_closer_one() -> None:
    student = unit(1)
    look_alike = at_distance(student, 0.8, 1)
    the_student = at_distance(student, 0.4, 2)
    gallery = Gallery.build([(1, student), (2, unit(0, 0, 0, 1))])

    look_alike_match, student_match = match_faces(
        np.stack([look_alike, the_student]), gallery, rule=MatchRule(threshold=1.0)
    )

    assert student_match.student_id == 1
    assert look_alike_match.student_id is None
    assert look_alike_match.nearest_student_id == 1
    assert look_alike_match.distance == pytest.approx(0.8, abs=1e-5)


def test_two_faces_of_two_students_are_both_found() -> None:
    gallery = Gallery.build([(1, E0), (2, E1), (3, E2)])
    faces = np.stack([at_distance(E1, 0.5, 3), at_distance(E0, 0.7, 4)])

    matches = match_faces(faces, gallery, rule=MatchRule(threshold=1.0))

    assert [match.student_id for match in matches] == [2, 1]


def test_an_empty_gallery_knows_nobody() -> None:
    faces = np.stack([E0, E1])

    matches = match_faces(faces, Gallery.build([]), rule=MatchRule(threshold=1.0))

    assert matches == [Match(student_id=None, nearest_student_id=None, distance=None)] * 2
    assert Gallery.build([]).student_distances(faces).shape == (2, 0)


def test_no_faces_no_matches() -> None:
    gallery = Gallery.build([(1, E0)])

    assert match_faces(np.zeros((0, DIM), dtype=np.float32), gallery, rule=MatchRule(threshold=1.0)) == []


# --- The rule: margin, small faces, near matches -------------------------------------------------


def two_students_at(face: np.ndarray, first: float, second: float) -> Gallery:
    return Gallery.build([(1, at_distance(face, first, 1)), (2, at_distance(face, second, 2))])


def test_a_face_between_two_students_is_nobody_without_the_margin() -> None:
    face = unit(1)
    rule = MatchRule(threshold=1.0, margin=0.08)

    [between] = match_faces(face[None, :], two_students_at(face, 0.9, 0.95), rule=rule)
    [clear] = match_faces(face[None, :], two_students_at(face, 0.9, 1.2), rule=rule)

    assert between.student_id is None and between.nearest_student_id == 1
    assert between.margin == pytest.approx(0.05, abs=1e-5)
    assert clear.student_id == 1


def test_a_small_face_needs_the_stricter_threshold_and_margin() -> None:
    face = unit(1)
    rule = MatchRule(threshold=1.0, margin=0.08, small_face_px=48, small_threshold=0.95, small_margin=0.12)
    gallery = two_students_at(face, 0.97, 1.3)

    [large] = match_faces(face[None, :], gallery, rule=rule, widths=[60])
    [small] = match_faces(face[None, :], gallery, rule=rule, widths=[30])

    assert large.student_id == 1
    assert small.student_id is None


def test_an_excluded_student_is_nobodys_match() -> None:
    face = unit(1)

    [match] = match_faces(face[None, :], two_students_at(face, 0.5, 1.3), rule=MatchRule(threshold=1.0), excluded={1})

    assert match.student_id is None and not match.near


NEAR = MatchRule(threshold=1.0, near_threshold=1.1, near_margin=0.15)


def test_just_over_the_threshold_and_far_from_everybody_else_is_a_near_match() -> None:
    face = unit(1)

    [near] = match_faces(face[None, :], two_students_at(face, 1.05, 1.3), rule=NEAR)
    [between] = match_faces(face[None, :], two_students_at(face, 1.05, 1.1), rule=NEAR)
    [far] = match_faces(face[None, :], two_students_at(face, 1.15, 1.4), rule=NEAR)

    assert (near.student_id, near.near, near.nearest_student_id) == (None, True, 1)
    assert not between.near, "a stranger sits between students"
    assert not far.near


def test_a_near_match_goes_to_no_face_when_another_face_matches_or_is_near_the_same_student() -> None:
    student = unit(1)
    gallery = Gallery.build([(1, student), (2, unit(0, 0, 0, 1))])
    near_face, matching_face = at_distance(student, 1.05, 1), at_distance(student, 0.5, 2)
    other_near_face = at_distance(student, 1.06, 2)

    near_match, match = match_faces(np.stack([near_face, matching_face]), gallery, rule=NEAR)
    first, second = match_faces(np.stack([near_face, other_near_face]), gallery, rule=NEAR)
    [alone] = match_faces(near_face[None, :], gallery, rule=NEAR)

    assert match.student_id == 1 and not near_match.near
    assert not first.near and not second.near
    assert alone.near
