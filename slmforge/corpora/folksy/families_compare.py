"""Families that set one thing beside another: false equivalence, hypocritical complaint,
tautological wisdom."""

from __future__ import annotations

import random

from slmforge.corpora.folksy import phrases as P
from slmforge.corpora.folksy.grammar import with_article
from slmforge.corpora.folksy.lexicon import Lexicon, Word
from slmforge.corpora.folksy.pattern import Rendered, patterns
from slmforge.corpora.folksy.render import be, cap, fill, it_is, pick

ANIMALS = {"livestock", "wildlife", "bird", "water critter"}
EATABLE = {"dish", "produce", "pantry", "meat", "drink"}


def _distinct(a: Word, b: Word) -> bool:
    """Not the same thing twice over: 'hat' and 'cowboy hat' make a lame comparison."""
    return a.text not in b.text and b.text not in a.text


def _kin(rng: random.Random, lex: Lexicon, x: Word) -> Word | None:
    options = [y for y in lex.kin(x) if _distinct(x, y)]
    return pick(rng, options) if options else None


def _has_kin(lex: Lexicon, x: Word) -> bool:
    return any(_distinct(x, y) for y in lex.kin(x))


def _any(lex: Lexicon, x: Word) -> bool:
    return True


def _not_folks(lex: Lexicon, x: Word) -> bool:
    return x.category != "folks"


# --- false equivalence: "A mule is just a horse with a college education." -----------------------

def _quip(rng: random.Random, options: tuple[str, ...], y: Word) -> str:
    """A stock phrase agreed with y; folks never get one with a pronoun (a person is not an "it")."""
    if y.category == "folks":
        options = tuple(o for o in options if "{" not in o)
    return fill(pick(rng, options), y.is_plural)


def _fe_with(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    return y and (f"{x.A} {x.is_} just {y.a} with {_quip(rng, P.WITH, y)}.", (x, y))


def _fe_that(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    return y and (f"{x.A} ain't nothin' but {y.a} that {_quip(rng, P.THAT, y)}.", (x, y))


def _fe_difference(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    return y and (f"Only difference between {x.a} and {y.a} is {pick(rng, P.DIFFERENCE)}.", (x, y))


def _fe_same(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    if y is None:
        return None
    same, different = pick(rng, [p for p in P.SAME_DIFFERENT if not {x.text, y.text} & set(p)])
    return f"{cap(x.plural)} and {y.plural}: same {same}, different {different}.", (x, y)


def _fe_put_on(rng, lex, x) -> Rendered | None:
    """'Put a steeple on a barn and folks'll call it a church.' x is the whole, or one of its parts."""
    pairs = [(w, p) for w, p in lex.pairs_with("parts", x)]
    options = []
    for whole, part in pairs:
        bases = [y for y in lex.kin(whole) if _distinct(whole, y) and part.word.text not in y.parts and part.word.plural not in y.parts]
        options += [(whole, part, y) for y in bases]
    if not options:
        return None
    whole, part, y = pick(rng, options)
    on = "in" if whole.category == "drink" else "on"
    return f"Put {part.np} {on} {y.a} and folks'll call {y.it_obj} {whole.a}.", (x, whole, part.word, y)


def _fe_scratch(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    return y and (f"Scratch {x.a} and you'll find {y.a} underneath.", (x, y))


def _fe_disguised(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    return y and (f"{be(x.A, x.is_plural)} just {y.a} {_quip(rng, P.DISGUISED, y)}.", (x, y))


def _fe_pay(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    return y and (f"Folks pay double for {x.a}, and {it_is(x.is_plural)} just {y.a}.", (x, y))


FALSE_EQUIVALENCE = patterns(
    "false_equivalence",
    just_with=(_has_kin, _fe_with), nothin_but=(_has_kin, _fe_that), only_difference=(_has_kin, _fe_difference),
    same_different=(_has_kin, _fe_same), put_on=(lambda lex, x: bool(lex.pairs_with("parts", x)), _fe_put_on),
    scratch=(_has_kin, _fe_scratch), disguised=(_has_kin, _fe_disguised), pay_double=(_not_folks, _fe_pay),
)


# --- hypocritical complaint: "That's like a mule callin' a goat stubborn." -----------------------

def _shared_trait(rng: random.Random, lex: Lexicon, x: Word) -> tuple[str, Word] | None:
    options = [(t, y) for t in x.traits for y in lex.sharing_trait(x, t) if _distinct(x, y)]
    if not options:
        return None
    same_kind = [(t, y) for t, y in options if y.category == x.category]
    return pick(rng, same_kind if same_kind and rng.random() < 0.5 else options)


def _has_shared_trait(lex: Lexicon, x: Word) -> bool:
    return any(_distinct(x, y) for t in x.traits for y in lex.sharing_trait(x, t))


def _hc(sentence):
    def render(rng, lex, x) -> Rendered | None:
        shared = _shared_trait(rng, lex, x)
        return shared and (sentence(rng, x, *shared), (x, shared[1]))
    return render


def _calling(rng, x, t, y):
    opener, end = pick(rng, (("That's like", "."), ("That's just", "."), ("Sounds like", "."), ("Ain't that", "?")))
    return f"{opener} {x.a} callin' {y.a} {t}{end}"


HYPOCRITICAL_COMPLAINT = patterns(
    "hypocritical_complaint",
    calling=(_has_shared_trait, _hc(_calling)),
    never_trust=(_has_shared_trait, _hc(lambda rng, x, t, y: f"Never trust {x.a} that {x.verb('complain')} about {y.plural} bein' {t}.")),
    long_look=(_has_shared_trait, _hc(lambda rng, x, t, y: f"{cap(x.the)} callin' {y.the} {t} oughta look {pick(rng, P.REFLECTION)}.")),
    funny_how=(_has_shared_trait, _hc(lambda rng, x, t, y: f"Funny how {x.a} always {x.verb('notice')} when {be(y.a, y.is_plural)} too {t}.")),
    consider=(_has_shared_trait, _hc(lambda rng, x, t, y: f"When {x.a} {x.verb('say')} {y.a} {y.is_} {t}, consider the source.")),
    mirror=(_has_shared_trait, _hc(lambda rng, x, t, y: f"{x.A} callin' {y.plural} too {t}? Fetch that {x.text} a mirror.")),
)


# --- tautological wisdom: "A mule is a mule, no matter how you brush it." ------------------------

def _tw_no_matter(rng, lex, x) -> Rendered:
    treat = pick(rng, lex.categories[x.category].treat + (() if x.category == "folks" else P.GENERIC_TREAT))
    return f"{x.A} {x.is_} {x.a}, no matter {treat.format(it=x.it_obj)}.", (x,)


def _tw_call(rng, lex, x) -> Rendered:
    them = "'em" if x.category == "folks" else x.it_obj
    return f"Call {them} whatever you like, {be(x.a, x.is_plural)} still {x.a}.", (x,)


def _tw_dress(rng, lex, x) -> Rendered | None:
    if x.category in ANIMALS:
        critter, garment = x, pick(rng, [w for w in lex.by_category["clothing"]])
    else:
        critter, garment = pick(rng, [w for c in sorted(ANIMALS) for w in lex.by_category[c]]), x
    return f"Dress {critter.a} up in {garment.a} and {it_is(False)} still {critter.a}.", (x, critter, garment)


def _tw_put_in(rng, lex, x) -> Rendered | None:
    if x.category in ANIMALS:
        place = lex.by_text[pick(rng, P.FANCY_PLACE)]
        return f"Put {x.a} in the {place.text} and {it_is(False)} still just {x.a}.", (x, place)
    if x.category in P.SERVED:
        food, (on, dishes) = x, P.SERVED[x.category]
        dish = lex.by_text[pick(rng, dishes)]
    else:
        dish = x
        kinds = [k for k, (_, dishes) in P.SERVED.items() if x.text in dishes]
        kind = pick(rng, sorted(kinds))
        on, food = P.SERVED[kind][0], pick(rng, lex.by_category[kind])
    return f"Put {food.a} {on} a fancy {dish.text} and {it_is(food.is_plural)} still {food.a}.", (x, food, dish)


def _tw_trait(rng, lex, x) -> Rendered | None:
    traits = [t for t in x.traits if t not in x.text.split()]  # not "a sweet sweet potato"
    if not traits:
        return None
    described = f"{pick(rng, traits)} {x.text}"
    described = with_article(described) if x.number == "count" else described
    return f"{cap(described)} {x.is_} still {x.a}{pick(rng, P.STILL_TAIL)}.", (x,)


def _tw_habit(rng, lex, x) -> Rendered:
    return f"{be(x.A, False)} gonna {x.habit}{fill(pick(rng, P.HABIT_TAIL), False)}.", (x,)


def _tw_call_one(rng, lex, x) -> Rendered | None:
    y = _kin(rng, lex, x)
    if y is None:
        return None
    them = "'em" if x.category == "folks" else x.it_obj
    one = "one" if y.number == "count" else y.text
    return f"Callin' {x.a} {y.a} don't make {them} {one}.", (x, y)


def _tw_till(rng, lex, x) -> Rendered:
    return f"{x.A} {x.is_} {x.a} till {it_is(x.is_plural)} somethin' else, and that ain't today.", (x,)


TAUTOLOGICAL_WISDOM = patterns(
    "tautological_wisdom",
    no_matter=(_any, _tw_no_matter), call_it=(_any, _tw_call), once_always=(_any, lambda rng, lex, x: (f"Once {x.a}, always {x.a}.", (x,))),
    dress_up=(lambda lex, x: x.category in ANIMALS or (x.category == "clothing"), _tw_dress),
    put_in=(lambda lex, x: x.category in ANIMALS or x.category in P.SERVED or any(x.text in d for _, d in P.SERVED.values()), _tw_put_in),
    described=(lambda lex, x: bool(x.traits), _tw_trait),
    gonna=(lambda lex, x: bool(x.habit), _tw_habit),
    call_one=(_has_kin, _tw_call_one), till=(_not_folks, _tw_till),
)
