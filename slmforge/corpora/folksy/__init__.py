"""The folksy proverb corpus: a template engine that writes fake folk wisdom, and prompts for it.

    from slmforge.corpora.folksy import say
    say("What would a grumpy farmer say about mules?")
"""

from slmforge.corpora.folksy.corpus import DEFAULT_ENTITIES, DEFAULT_SAYINGS, FolksyOptions, Pair, build_pairs, build_sayings, family_targets
from slmforge.corpora.folksy.families import FAMILIES, FAMILY_WEIGHTS
from slmforge.corpora.folksy.say import say

__all__ = ["DEFAULT_ENTITIES", "DEFAULT_SAYINGS", "FAMILIES", "FAMILY_WEIGHTS", "FolksyOptions", "Pair", "build_pairs",
           "build_sayings", "family_targets", "say"]
