"""What folks wear and what they ride: clothing and its parts, vehicles and machine parts."""

from __future__ import annotations

from slmforge.corpora.folksy.lexicon import W, words

CLOTHING = words(
    "clothing",
    W("hat", traits="dusty", material="felt", parts="brim, hatband"), W("cowboy hat", traits="dusty", material="felt", parts="brim, hatband"),
    W("straw hat", traits="floppy", material="straw", parts="brim, hatband"), W("bonnet", material="cotton"),
    W("sunbonnet", material="cotton"), W("boot", traits="muddy", material="leather", parts="heel, sole, shoelaces"),
    W("shoe", traits="muddy", material="leather", parts="heel, sole, shoelaces"), W("sock", traits="holey smelly", material="wool"),
    W("overalls", "plural", traits="muddy patched", material="denim", parts="buttons, pockets, straps"),
    W("britches", "plural", traits="muddy tight", material="denim", parts="buttons, pockets, belt loops"),
    W("shirt", traits="wrinkled", material="cotton", parts="buttons, collar, sleeves, pockets"),
    W("flannel shirt", traits="warm", material="flannel", parts="buttons, collar, sleeves"),
    W("dress", traits="wrinkled", material="cotton", parts="buttons, hem, sleeves"), W("apron", traits="greasy", material="cotton", parts="pockets, strings"),
    W("glove", traits="muddy", material="leather"), W("mitten", traits="warm", material="wool"), W("scarf", traits="scratchy", material="wool"),
    W("bandana", traits="sweaty", material="cotton"), W("coat", traits="warm heavy", material="wool", parts="buttons, pockets, sleeves, collar"),
    W("raincoat", traits="stiff", material="rubber", parts="buttons, hood"), W("vest", material="wool", parts="buttons, pockets"),
    W("suspenders", "plural", parts="buttons, straps"), W("belt", traits="tight", material="leather", parts="buckle"),
    W("necktie", traits="tight"), W("sweater", traits="scratchy warm", material="wool", parts="sleeves, collar"),
    W("long johns", "plural", traits="itchy", material="flannel", parts="buttons"), W("nightgown", material="cotton"),
    W("slipper", traits="worn"), W("cap", traits="dusty", parts="brim"), W("jacket", material="denim", parts="zipper, pockets, sleeves"),
    W("galoshes", "plural", traits="muddy", material="rubber"), W("handkerchief", material="cotton"),
)

CLOTHING_PARTS = words(
    "clothing part",
    W("button", traits="loose", prep="sewin' on"), W("buckle", traits="shiny", material="brass", prep="polishin'"),
    W("pocket", traits="empty", prep="mendin'"), W("sleeve", prep="ironin'"), W("collar", traits="stiff", prep="starchin'"),
    W("shoelace", prep="tyin'"), W("heel", traits="worn", prep="fixin'"), W("sole", traits="thin", prep="patchin'"),
    W("brim", traits="floppy", prep="brushin'"), W("hatband", prep="straightenin'"), W("zipper", traits="stuck", prep="fixin'"),
    W("strap", prep="fixin'"), W("hem", prep="lettin' out"), W("hood", prep="mendin'"), W("belt loop", prep="mendin'"),
    W("patch", prep="sewin' on"),
)

VEHICLES = words(
    "vehicle",
    W("wagon", traits="rickety slow", material="wood", parts="wheels, axle, seat", gear="mule"),
    W("tractor", traits="loud slow rusty", material="iron", parts="engine, tires, seat"),
    W("pickup truck", traits="loud rusty", material="steel", parts="engine, tires, tailgate, headlights"),
    W("buggy", traits="rickety", material="wood", parts="wheels, seat, axle", gear="horse"),
    W("canoe", traits="tippy", material="wood", parts="paddle", gone="at the bottom of the lake"),
    W("rowboat", traits="leaky", material="wood", parts="oars, seat", gone="at the bottom of the lake"),
    W("raft", traits="leaky wobbly", parts="logs, rope", gone="gone down the river"),
    W("bicycle", traits="rusty squeaky", material="steel", parts="wheels, pedals, chain, handlebars"),
    W("wheelbarrow", traits="wobbly squeaky", material="tin", parts="wheel, handles"),
    W("sled", traits="slow", material="wood", parts="runners, rope", gone="busted"),
    W("train", traits="loud late", material="iron", parts="engine, caboose, whistle, wheels", gone="left the station"),
    W("tricycle", traits="squeaky", material="steel", parts="wheels, pedals"),
    W("motorcycle", traits="loud", material="steel", parts="engine, tires, handlebars"),
    W("jalopy", traits="loud rusty", material="tin", parts="engine, tires, muffler, horn"),
    W("covered wagon", traits="slow", material="canvas", parts="wheels, axle, seat"),
    W("horse trailer", traits="rusty", material="steel", parts="wheels, hitch"),
    W("school bus", traits="loud late", material="steel", parts="engine, tires, seats"),
    W("stagecoach", traits="rickety", material="wood", parts="wheels, seats, axle", gear="horses"),
    W("riverboat", traits="slow", parts="paddle wheel, whistle", gone="gone down the river"),
    W("hay wagon", traits="rickety", material="wood", parts="wheels, axle"),
)

MACHINE_PARTS = words(
    "machine part",
    W("wheel", traits="squeaky wobbly", material="wood"), W("axle", traits="rusty", material="iron"),
    W("tire", traits="flat bald", material="rubber", prep="patchin'"), W("engine", traits="loud", prep="tunin' up"),
    W("seat", traits="hard", prep="dustin' off"), W("oar", material="wood", prep="varnishin'"), W("paddle", material="wood", prep="varnishin'"),
    W("sail", material="canvas", prep="mendin'"), W("brake", traits="squeaky"), W("horn", traits="loud"),
    W("spoke", traits="bent", prep="straightenin'"), W("headlight", traits="dim"), W("bumper", traits="dented"),
    W("tailgate", traits="rusty"), W("muffler", traits="loud rusty"), W("fender", traits="dented"),
    W("hitch", traits="rusty"), W("runner", prep="waxin'"), W("pedal", traits="squeaky"), W("chain", traits="rusty", material="iron"),
    W("handlebar", traits="bent"), W("steering wheel"), W("caboose", traits="red"), W("whistle", traits="loud"),
    W("paddle wheel", traits="slow"), W("spring", traits="rusty", material="steel", prep="oilin'"),
    W("handle", traits="loose", prep="sandin'"), W("blade", traits="dull sharp", material="steel", prep="sharpenin'"),
    W("tine", traits="bent", prep="straightenin'"), W("wick", prep="trimmin'"), W("pendulum", prep="swingin'"),
    W("dasher", prep="scaldin'"), W("lid", traits="stuck"), W("burner", traits="hot"), W("oven door", traits="squeaky"),
    W("rung", traits="loose", prep="nailin' on"), W("bristle", traits="stiff", prep="trimmin'"), W("fishing line", traits="tangled", prep="untanglin'"),
)

GEAR = CLOTHING + CLOTHING_PARTS + VEHICLES + MACHINE_PARTS
