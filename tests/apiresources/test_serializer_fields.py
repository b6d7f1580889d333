"""The serializers build their fields from the model once per class and hand each serializer its own copies."""

import pytest
from rest_framework import serializers

from apiresources.serializers import BrandSerializer, CampaignSerializer

CLASSES = [BrandSerializer, CampaignSerializer]


@pytest.fixture
def fresh(monkeypatch):
    """The serializer classes without their built prototypes, and a count of DRF's model introspections."""
    for cls in CLASSES:
        if "_field_prototypes" in cls.__dict__:
            monkeypatch.delattr(cls, "_field_prototypes")
    calls = []
    drf_get_fields = serializers.ModelSerializer.get_fields

    def counted(self):
        calls.append(type(self))
        return drf_get_fields(self)

    monkeypatch.setattr(serializers.ModelSerializer, "get_fields", counted)
    return calls


@pytest.mark.parametrize("cls", CLASSES)
def test_the_model_is_introspected_once_per_class(fresh, cls):
    for _ in range(3):
        assert cls(data={}).fields

    assert fresh == [cls]


@pytest.mark.parametrize("cls", CLASSES)
def test_each_serializer_binds_its_own_copies(cls):
    first, second = cls(context={"n": 1}), cls(context={"n": 2})

    for name, field in first.fields.items():
        other = second.fields[name]
        assert field is not other
        assert (field.parent, other.parent) == (first, second)
        assert (field.context, other.context) == ({"n": 1}, {"n": 2})
    assert all(prototype.parent is None for prototype in cls._field_prototypes.values() if hasattr(prototype, "parent"))


@pytest.mark.parametrize("cls", CLASSES)
def test_the_copies_are_the_fields_drf_builds(cls):
    drf = serializers.ModelSerializer.get_fields(cls())

    assert {name: repr(field) for name, field in cls().get_fields().items()} == {
        name: repr(field) for name, field in drf.items()
    }
