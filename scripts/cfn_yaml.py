"""Reads infra/template.yaml with CloudFormation's short-form intrinsic functions (!Ref,
!GetAtt, !Sub ...) as one-key maps ({"Ref": ...}), for the checks that read the template."""
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that knows CloudFormation's `!` tags."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template():
    """The deployment template as plain data."""
    return yaml.load((ROOT / "infra/template.yaml").read_text(), Loader=CfnLoader)
