"""Families built on what things are made of, hold, make or do: futile preparation, ironic
deficiency, deconstruction, denial of consequences."""

from __future__ import annotations

import random

from slmforge.corpora.folksy import phrases as P
from slmforge.corpora.folksy.grammar import third_person
from slmforge.corpora.folksy.lexicon import Lexicon, Part, Word
from slmforge.corpora.folksy.pattern import Rendered, patterns
from slmforge.corpora.folksy.render import be, cap, fill, it_is, pick

EATABLE = {"dish", "produce", "pantry", "meat"}
FEEDABLE = {"livestock", "wildlife", "bird", "water critter"}
# Things a body keeps in the house (you'll never find one in the cobbler's own house).
PORTABLE = {"dish", "produce", "pantry", "meat", "drink", "kitchen", "container", "tool", "household", "pastime", "clothing", "material"}
FOOD_LIKE = {"dish", "produce", "pantry", "meat", "drink"}


def _prep(rng: random.Random, lex: Lexicon, w: Word) -> str:
    return w.prep or pick(rng, lex.categories[w.category].prep or ("fixin'", "polishin'"))


def _gone(rng: random.Random, lex: Lexicon, w: Word) -> str:
    return pick(rng, w.gone or lex.categories[w.category].gone or ("long gone",))


# --- futile preparation: "No sense oilin' the hinges when the barn's already burned down." ------

def _component_pairs(lex: Lexicon, x: Word) -> list[tuple[Word, Part]]:
    return lex.pairs_with("parts", x) + lex.pairs_with("gear", x)


def _futile(sentence, weather: bool = True):
    """weather=False: the sentence needs a whole you can own ("a barn you ain't got", not "rain")."""
    def render(rng, lex, x) -> Rendered | None:
        pairs = [(w, p) for w, p in _component_pairs(lex, x) if weather or w.category != "weather"]
        if not pairs:
            return None
        whole, part = pick(rng, pairs)
        return sentence(rng, whole, part, _prep(rng, lex, part.word), _gone(rng, lex, whole)), (x, whole, part.word)
    return render


def _tool(sentence):
    def render(rng, lex, x) -> Rendered | None:
        pairs = lex.pairs_with("works_on", x)
        if not pairs:
            return None
        tool, target = pick(rng, pairs)
        return sentence(rng, tool, target.word, _prep(rng, lex, tool)), (x, tool, target.word)
    return render


def _has_components(lex, x) -> bool:
    return bool(_component_pairs(lex, x))


def _has_owned_components(lex, x) -> bool:
    return any(w.category != "weather" for w, _ in _component_pairs(lex, x))


def _has_target(lex, x) -> bool:
    return bool(lex.pairs_with("works_on", x))


FUTILE_PREPARATION = patterns(
    "futile_preparation",
    already_gone=(_has_components, _futile(lambda rng, w, c, prep, gone: f"{pick(rng, P.OPENER_NO_SENSE)} {prep} {c.the} when {be(w.the, w.is_plural)} {gone}.")),
    aint_got=(_has_owned_components, _futile(lambda rng, w, c, prep, gone: f"Don't go {prep} {c.the} for {w.a} you ain't got.", weather=False)),
    no_need=(_has_components, _futile(lambda rng, w, c, prep, gone: f"Ain't no {w.text}, ain't no need for {c.np}.")),
    why_bother=(_has_components, _futile(lambda rng, w, c, prep, gone: f"Why bother {prep} {c.the} with no {w.text} in sight?")),
    might_as_well=(_has_components, _futile(lambda rng, w, c, prep, gone: f"{cap(prep)} {c.the} with no {w.text}? Might as well {pick(rng, P.FUTILE_ACT)}.")),
    bring_back=(_has_components, _futile(lambda rng, w, c, prep, gone: f"{cap(prep)} {c.the} won't bring back {w.the}.")),
    wastin_daylight=(_has_owned_components, _futile(lambda rng, w, c, prep, gone: f"Fella {prep} {c.the} before he's got {w.a} is wastin' daylight.", weather=False)),
    for_miles=(_has_target, _tool(lambda rng, t, g, prep: f"{pick(rng, P.OPENER_NO_SENSE)} {prep} {t.the} when there ain't {g.any} for miles.")),
    laid_eyes=(_has_target, _tool(lambda rng, t, g, prep: f"Don't go {prep} {t.the} till you've laid eyes on {g.a}.")),
    in_sight=(_has_target, _tool(lambda rng, t, g, prep: f"{cap(prep)} {t.the} with no {g.plural} in sight {pick(rng, P.FUTILE_TAIL)}.")),
)


# --- ironic deficiency: "The cobbler's own young'uns always go without boots." -----------------

def _fits(p: Part, portable: bool, traits: bool) -> bool:
    return (not portable or p.word.category in PORTABLE) and (not traits or bool(p.word.traits))


def _trade(sentence, portable: bool = False, traits: bool = False):
    def render(rng, lex, x) -> Rendered | None:
        pairs = [(f, p) for f, p in lex.pairs_with("makes", x) if f.category == "folks" and _fits(p, portable, traits)]
        if not pairs:
            return None
        folk, product = pick(rng, pairs)
        return sentence(rng, folk, product), (x, folk, product.word)
    return render


def _can_trade(portable: bool = False, traits: bool = False):
    return lambda lex, x: any(f.category == "folks" and _fits(p, portable, traits) for f, p in lex.pairs_with("makes", x))


def _own_is_always(rng, folk, product: Part) -> str:
    """'The clockmaker's own clock is always slow.'"""
    verb = "are" if product.is_plural else "is"
    return f"The {folk.text}'s own {product.bare} {verb} always {pick(rng, product.word.traits)}."


def _held(sentence):
    def render(rng, lex, x) -> Rendered | None:
        pairs = lex.pairs_with("holds", x)
        if not pairs:
            return None
        holder, held = pick(rng, pairs)
        return sentence(rng, holder, held.word), (x, holder, held.word)
    return render


def _never_find(rng, folk, product: Part) -> str:
    room = pick(rng, ("kitchen", "cupboard") if product.word.category in FOOD_LIKE else ("house", "front room"))
    return f"You'll never find {product.word.any} in the {folk.text}'s own {room}."


def _brag(rng, lex, x) -> Rendered | None:
    pairs = [(a, p) for a, p in lex.pairs_with("makes", x) if a.category in FEEDABLE | {"bug"}]
    if not pairs:
        return None
    critter, product = pick(rng, pairs)
    least = f"fewest {product.word.plural}" if product.word.number == "count" else f"least {product.word.text}"
    return f"The {critter.text} that {pick(rng, P.BRAG)} gives the {least}.", (x, critter, product.word)


def _them(word: Word) -> str:
    return "it" if word.number == "mass" else "them"


IRONIC_DEFICIENCY = patterns(
    "ironic_deficiency",
    go_without=(_can_trade(True), _trade(lambda rng, f, p: f"The {f.text}'s own {pick(rng, P.KIN)} always go without {p.np}.", True)),
    never_find=(_can_trade(True), _trade(_never_find, True)),
    sorriest=(_can_trade(), _trade(lambda rng, f, p: f"The {f.text} always has the sorriest {p.bare} {pick(rng, P.WHERE)}.")),
    shorter_on=(_can_trade(), _trade(lambda rng, f, p: f"Nobody's shorter on {p.word.plural} than the {f.text}.")),
    borrowin=(_can_trade(True), _trade(lambda rng, f, p: f"It's always the {f.text} who ends up borrowin' {p.np} from the neighbors.", True)),
    out_of=(lambda lex, x: bool(lex.pairs_with("holds", x)), _held(lambda rng, k, h: f"The {k.text} {k.is_} always out of {h.plural} {pick(rng, P.WHEN_COMPANY)}.")),
    never_any=(lambda lex, x: bool(lex.pairs_with("holds", x)), _held(lambda rng, k, h: f"There's never {h.any} in the {k.text} {pick(rng, P.WHEN_COMPANY)}.")),
    runs_out=(lambda lex, x: bool(lex.pairs_with("holds", x)), _held(lambda rng, k, h: f"The {k.text} {k.verb('run')} out of {h.plural} right when you need {_them(h)}.")),
    brag=(lambda lex, x: any(a.category in FEEDABLE | {"bug"} for a, _ in lex.pairs_with("makes", x)), _brag),
    own_is_always=(_can_trade(traits=True), _trade(_own_is_always, traits=True)),
    but_at_home=(_can_trade(True), _trade(lambda rng, f, p: f"The {f.text} takes care of every {p.word.text} in town but the one at home.", True)),
    full_of_everything=(lambda lex, x: bool(lex.pairs_with("holds", x)), _held(lambda rng, k, h: f"{k.A} full of everything but {h.plural}: that's how it goes.")),
    missin=(_has_target, _tool(lambda rng, t, g, prep: f"{cap(t.the)} always {t.verb('go')} missin' the day the {g.plural} {'come' if g.takes_plural_verb else 'comes'} in.")),
)


# --- deconstruction: "A burger without beef? That's just a tomato thinkin' it's better than the rest."

def _apart(sentence, names_missing: bool = True):
    """names_missing=False: the sentence never says which part went missing, so x cannot be it."""
    def render(rng, lex, x) -> Rendered | None:
        wholes = [w for w, _ in lex.pairs_with("parts", x) if len(w.parts) >= 2]
        if not wholes:
            return None
        whole = pick(rng, wholes)
        parts = list(lex.related(whole, "parts"))
        mine = [p for p in parts if p.word is x]  # x is a part: it must be the missing one or what is left
        first = mine[0] if mine else pick(rng, parts)
        second = pick(rng, [p for p in parts if p.word is not first.word])
        missing, rest = (first, second) if not mine or (names_missing and rng.random() < 0.5) else (second, first)
        used = (x, whole, missing.word, rest.word) if names_missing else (x, whole, rest.word)
        return sentence(rng, whole, missing, rest), used
    return render


_can_apart = lambda lex, x: any(len(w.parts) >= 2 for w, _ in lex.pairs_with("parts", x))  # noqa: E731

DECONSTRUCTION = patterns(
    "deconstruction",
    without=(_can_apart, _apart(lambda rng, w, p, r: f"{w.A} without {p.np}? That's just {r.np} with {fill(pick(rng, P.WITH), r.is_plural)}.")),
    take_away=(_can_apart, _apart(lambda rng, w, p, r: f"Take away {p.the}, and {be(w.a, w.is_plural)} just {r.np} puttin' on airs.")),
    get_along=(_can_apart, _apart(lambda rng, w, p, r: f"{be(w.A, w.is_plural)} just {p.np} and {r.np} that learned to get along.")),
    thinkin=(_can_apart, _apart(lambda rng, w, p, r: f"Without {p.the}, {be(w.the, w.is_plural)} just {r.np} thinkin' {it_is(r.is_plural)} somethin'.")),
    minus=(_can_apart, _apart(lambda rng, w, p, r: f"{w.A} minus {p.the}? That's {r.np} and a story.")),
    strip=(_can_apart, _apart(lambda rng, w, p, r: f"Strip {w.a} down to {r.np} and see who's impressed.", names_missing=False)),
    with_no=(_can_apart, _apart(lambda rng, w, p, r: f"{w.A} with no {p.bare} {w.is_} just {r.np} and a prayer.")),
    just_the_rest=(_can_apart, _apart(lambda rng, w, p, r: f"{w.A} without {p.np} {w.is_} just {r.np}.")),
)


# --- denial of consequences: "Leave a hoe out in the rain and don't act surprised when it rusts."

FIXED = {"building", "building part", "land", "plant"}  # already out in the rain: "leave a barn in the rain" is silly


def _weathering(lex: Lexicon, x: Word) -> tuple[Word, str, str] | None:
    """(material, how it gets ruined, who gets blamed) for a thing the weather ruins, else None."""
    material = lex.decays(x)
    if material is None:
        return None
    if x.category in FIXED:
        return (material, "skip the paint on {x}", "the weather") if material.decay in ("rust", "rot") else None
    return (material, *P.EXPOSURES[material.exposure])


def _weathered(sentence):
    def render(rng, lex, x) -> Rendered | None:
        weathering = _weathering(lex, x)
        if weathering is None:
            return None
        material, exposure, blame = weathering
        return sentence(rng, x, exposure.format(x=x.a), blame, material.decay), (x,)  # the material goes unsaid
    return render


def _pestered(sentence):
    def render(rng, lex, x) -> Rendered | None:
        return sentence(rng, x, pick(rng, P.PESTER).format(x=x.a), x.verb(x.defense)), (x,)
    return render


def _feed(rng, lex, x) -> Rendered:
    if x.category in FEEDABLE:
        critter, food = x, pick(rng, [w for c in sorted(EATABLE) for w in lex.by_category[c]])
    else:
        critter, food = pick(rng, [w for c in sorted(FEEDABLE) for w in lex.by_category[c]]), x
    return f"Feed {critter.a} {food.plural} and then wonder why it won't leave.", (x, critter, food)


def _eat(rng, lex, x) -> Rendered:
    other = pick(rng, [w for c in sorted(EATABLE) for w in lex.by_category[c] if w is not x])
    amount = f"{pick(rng, P.AMOUNT)} {x.plural}" if x.number == "count" else f"a whole bowl of {x.text}"
    return f"Eat {amount} and blame {other.the} for the bellyache.", (x, other)


def _out_in(sentence):
    def render(rng, lex, x) -> Rendered | None:
        pairs = [(w, g) for w, g in lex.pairs_with("gear", x) if w.category == "weather"]
        if not pairs:
            return None
        weather, gear = pick(rng, pairs)
        return sentence(weather, gear), (x, weather, gear.word)
    return render


_decays = lambda lex, x: _weathering(lex, x) is not None  # noqa: E731
_defends = lambda lex, x: bool(x.defense)  # noqa: E731

DENIAL_OF_CONSEQUENCES = patterns(
    "denial_of_consequences",
    act_surprised=(_decays, _weathered(lambda rng, x, exp, blame, decay: f"{cap(exp)} and don't act surprised when {x.it} {x.verb(decay)}.")),
    blame_weather=(_decays, _weathered(lambda rng, x, exp, blame, decay: f"{cap(exp)}, then blame {blame} for {P.DECAY_NOUN[decay]}?")),
    expect_not=(_decays, _weathered(lambda rng, x, exp, blame, decay: f"Can't {exp} and expect {x.it_obj} not to {decay}.")),
    get_what=(_defends, _pestered(lambda rng, x, pester, hits: f"{cap(pester)}, get {P.STRUCK[x.defense]}. Don't act surprised.")),
    fella=(_defends, _pestered(lambda rng, x, pester, hits: f"Fella who {third_person(pester)} can't complain when it {hits}.")),
    then_cry=(_defends, _pestered(lambda rng, x, pester, hits: f"Don't {pester} and then cry when it {hits}.")),
    wont_leave=(lambda lex, x: x.category in FEEDABLE | EATABLE, _feed),
    bellyache=(lambda lex, x: x.category in EATABLE, _eat),
    cuss_the=(lambda lex, x: any(w.category == "weather" for w, _ in lex.pairs_with("gear", x)),
              _out_in(lambda w, g: f"Go out in {w.the} without {g.np} and cuss {w.the}? That's on you.")),
    see_it_comin=(lambda lex, x: any(w.category == "weather" for w, _ in lex.pairs_with("gear", x)),
                  _out_in(lambda w, g: f"Walk out in {w.the} without {g.np} and swear you never saw it comin'.")),
)
