from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.flag_view_environments import FlagViewEnvironments
  from ..models.rule import Rule





T = TypeVar("T", bound="FlagView")



@_attrs_define
class FlagView:
    """ A feature flag.

        Attributes:
            key (str): Its key.
            version (int): 1 when made, one more per change.
            description (str): What it is for.
            enabled (bool): Whether it serves `true` to anyone.
            rollout_percent (float): The share of stable keys it serves `true` to, 0-100.
            environments (FlagViewEnvironments): Overrides per environment.
            rules (list[Rule]): Attribute rules, first match wins.
            updated_by (str): The key that changed it last.
            updated_at_ms (int): When, ms since the epoch.
            skill (None | str | Unset): The skill it gates, if any.
            webhook_url (None | str | Unset): Where its changes are announced.
     """

    key: str
    version: int
    description: str
    enabled: bool
    rollout_percent: float
    environments: FlagViewEnvironments
    rules: list[Rule]
    updated_by: str
    updated_at_ms: int
    skill: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.flag_view_environments import FlagViewEnvironments # noqa: PLC0415
        from ..models.rule import Rule # noqa: PLC0415
        key = self.key

        version = self.version

        description = self.description

        enabled = self.enabled

        rollout_percent = self.rollout_percent

        environments = self.environments.to_dict()

        rules = []
        for rules_item_data in self.rules:
            rules_item = rules_item_data.to_dict()
            rules.append(rules_item)



        updated_by = self.updated_by

        updated_at_ms = self.updated_at_ms

        skill: None | str | Unset
        if isinstance(self.skill, Unset):
            skill = UNSET
        else:
            skill = self.skill

        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "key": key,
            "version": version,
            "description": description,
            "enabled": enabled,
            "rollout_percent": rollout_percent,
            "environments": environments,
            "rules": rules,
            "updated_by": updated_by,
            "updated_at_ms": updated_at_ms,
        })
        if skill is not UNSET:
            field_dict["skill"] = skill
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.flag_view_environments import FlagViewEnvironments # noqa: PLC0415
        from ..models.rule import Rule # noqa: PLC0415
        d = dict(src_dict)
        key = d.pop("key")

        version = d.pop("version")

        description = d.pop("description")

        enabled = d.pop("enabled")

        rollout_percent = d.pop("rollout_percent")

        environments = FlagViewEnvironments.from_dict(d.pop("environments"))




        rules = []
        _rules = d.pop("rules")
        for rules_item_data in (_rules):
            rules_item = Rule.from_dict(rules_item_data)



            rules.append(rules_item)


        updated_by = d.pop("updated_by")

        updated_at_ms = d.pop("updated_at_ms")

        def _parse_skill(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        skill = _parse_skill(d.pop("skill", UNSET))


        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))


        flag_view = cls(
            key=key,
            version=version,
            description=description,
            enabled=enabled,
            rollout_percent=rollout_percent,
            environments=environments,
            rules=rules,
            updated_by=updated_by,
            updated_at_ms=updated_at_ms,
            skill=skill,
            webhook_url=webhook_url,
        )


        flag_view.additional_properties = d
        return flag_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
