from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.flag_spec_environments import FlagSpecEnvironments
  from ..models.rule import Rule





T = TypeVar("T", bound="FlagSpec")



@_attrs_define
class FlagSpec:
    """ A flag as a tenant sets it.

        Attributes:
            enabled (bool): The master switch: off serves false to everyone.
            description (str | Unset): What it is for.
            rollout_percent (float | Unset): The share of keys served true once on and no rule matched, percent (default
                100).
            environments (FlagSpecEnvironments | Unset): Overrides per environment (`production`, `staging`, `development`,
                …).
            rules (list[Rule] | Unset): Targeting rules, first match wins.
            skill (None | str | Unset): The skill this flag gates, if any.
            webhook_url (None | str | Unset): Where a signed `flag.changed` webhook goes on each change, if anywhere.
     """

    enabled: bool
    description: str | Unset = UNSET
    rollout_percent: float | Unset = UNSET
    environments: FlagSpecEnvironments | Unset = UNSET
    rules: list[Rule] | Unset = UNSET
    skill: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.flag_spec_environments import FlagSpecEnvironments # noqa: PLC0415
        from ..models.rule import Rule # noqa: PLC0415
        enabled = self.enabled

        description = self.description

        rollout_percent = self.rollout_percent

        environments: dict[str, Any] | Unset = UNSET
        if not isinstance(self.environments, Unset):
            environments = self.environments.to_dict()

        rules: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.rules, Unset):
            rules = []
            for rules_item_data in self.rules:
                rules_item = rules_item_data.to_dict()
                rules.append(rules_item)



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

        field_dict.update({
            "enabled": enabled,
        })
        if description is not UNSET:
            field_dict["description"] = description
        if rollout_percent is not UNSET:
            field_dict["rollout_percent"] = rollout_percent
        if environments is not UNSET:
            field_dict["environments"] = environments
        if rules is not UNSET:
            field_dict["rules"] = rules
        if skill is not UNSET:
            field_dict["skill"] = skill
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.flag_spec_environments import FlagSpecEnvironments # noqa: PLC0415
        from ..models.rule import Rule # noqa: PLC0415
        d = dict(src_dict)
        enabled = d.pop("enabled")

        description = d.pop("description", UNSET)

        rollout_percent = d.pop("rollout_percent", UNSET)

        _environments = d.pop("environments", UNSET)
        environments: FlagSpecEnvironments | Unset
        if isinstance(_environments,  Unset):
            environments = UNSET
        else:
            environments = FlagSpecEnvironments.from_dict(_environments)




        _rules = d.pop("rules", UNSET)
        rules: list[Rule] | Unset = UNSET
        if _rules is not UNSET:
            rules = []
            for rules_item_data in _rules:
                rules_item = Rule.from_dict(rules_item_data)



                rules.append(rules_item)


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


        flag_spec = cls(
            enabled=enabled,
            description=description,
            rollout_percent=rollout_percent,
            environments=environments,
            rules=rules,
            skill=skill,
            webhook_url=webhook_url,
        )

        return flag_spec

