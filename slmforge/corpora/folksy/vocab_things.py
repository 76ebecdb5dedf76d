"""Things around the place: the kitchen, containers, tools and tack, household goods, pastimes, materials.

Materials carry `decay` (what the weather does to them) and `exposure` (which weather: a key of
phrases.EXPOSURES); a thing made of a material rusts, rots or cracks the way its material does.
"""

from __future__ import annotations

from slmforge.corpora.folksy.lexicon import W, words

KITCHEN = words(
    "kitchen",
    W("skillet", traits="black heavy greasy", material="iron", holds="cornbread, bacon"), W("kettle", traits="black loud", material="copper", holds="water"),
    W("stew pot", traits="black heavy", material="iron", holds="beef stew"), W("ladle", material="tin"),
    W("spoon", material="tin"), W("wooden spoon", material="wood"), W("fork", traits="bent", material="steel"),
    W("butcher knife", traits="sharp dull", material="steel"), W("rolling pin", traits="heavy", material="wood"),
    W("cutting board", material="wood"), W("colander", traits="leaky", material="tin"),
    W("churn", traits="slow", material="wood", parts="dasher, lid", holds="cream, butter"),
    W("stove", traits="hot black", material="iron", parts="burners, oven door, stovepipe"),
    W("oven", traits="hot"), W("icebox", traits="cold", holds="milk, butter"),
    W("coffee pot", traits="hot black", material="tin", holds="coffee"), W("teapot", traits="hot", material="clay", holds="sweet tea"),
    W("plate", material="tin", holds="biscuits"), W("bowl", material="clay", holds="grits"), W("tin cup", traits="dented", material="tin", holds="coffee"),
    W("saucer", material="clay"), W("pie pan", material="tin", holds="apple pie"), W("dutch oven", traits="heavy black", material="iron", holds="beef stew"),
    W("spatula", material="tin"), W("whisk", material="wire"), W("grater", traits="sharp", material="tin"),
    W("sifter", material="tin"), W("can opener", traits="dull", material="steel"), W("dishrag", traits="dirty"),
    W("waffle iron", traits="hot", material="iron"), W("meat grinder", material="iron"),
    W("pressure cooker", traits="loud"), W("toaster", traits="hot"),
)

CONTAINERS = words(
    "container",
    W("jar", material="glass", holds="pickles, jelly"), W("mason jar", material="glass", holds="moonshine, jelly"),
    W("jug", traits="heavy", material="clay", holds="cider, moonshine"), W("barrel", traits="heavy", material="wood", holds="pickles, whiskey"),
    W("rain barrel", material="wood", holds="water"), W("crate", material="wood", holds="apples, peaches"),
    W("sack", traits="heavy", material="burlap", holds="flour, potatoes"), W("basket", traits="flimsy", material="straw", holds="eggs, blackberries"),
    W("bucket", traits="leaky", material="tin", holds="water, milk"), W("milk pail", material="tin", holds="milk"),
    W("washtub", material="tin", holds="water"), W("tin can", traits="dented", material="tin", holds="beans"),
    W("cookie jar", traits="empty", material="clay", holds="cookies"), W("bread box", material="tin", holds="bread"),
    W("toolbox", traits="heavy", material="tin", holds="hammer, screwdriver, wrench, pliers"), W("steamer trunk", traits="heavy", material="wood", holds="quilts"),
    W("tackle box", material="tin", holds="fishhooks"), W("piggy bank", traits="empty", material="clay", holds="pennies"),
    W("coffee can", material="tin", holds="nails"), W("canteen", material="tin", holds="water"),
    W("trough", material="wood", holds="water"), W("feed sack", material="burlap", holds="corn"),
)

TOOLS = words(
    "tool",
    W("hammer", traits="heavy", material="steel", works_on="nails", parts="handle"),
    W("saw", traits="dull sharp", material="steel", works_on="boards", prep="sharpenin'", parts="blade, handle"),
    W("wrench", traits="rusty heavy", material="steel", works_on="bolts"),
    W("axe", traits="dull sharp", material="steel", works_on="logs", prep="sharpenin'", parts="blade, handle"),
    W("hatchet", traits="dull", material="steel", works_on="kindling", prep="sharpenin'", parts="blade, handle"),
    W("shovel", traits="muddy heavy", material="iron", works_on="dirt", parts="blade, handle"),
    W("hoe", traits="dull rusty", material="iron", works_on="weeds", prep="sharpenin'", parts="blade, handle"),
    W("rake", traits="rusty", material="iron", works_on="leaves", parts="tines, handle"),
    W("pitchfork", traits="rusty sharp", material="iron", works_on="hay", parts="tines, handle"),
    W("crowbar", traits="heavy", material="iron", works_on="nails"),
    W("chisel", traits="dull", material="steel", works_on="wood", prep="sharpenin'"),
    W("screwdriver", material="steel", works_on="screws"),
    W("pliers", "plural", traits="rusty", material="steel", works_on="wire"),
    W("plow", traits="rusty heavy", material="iron", works_on="fields", prep="sharpenin'", parts="blade, handles"),
    W("scythe", traits="dull", material="steel", works_on="wheat", prep="sharpenin'", parts="blade, handle"),
    W("sickle", traits="rusty", material="steel", works_on="weeds", prep="sharpenin'"),
    W("shears", "plural", traits="dull", material="steel", works_on="sheep", prep="sharpenin'"),
    W("posthole digger", material="iron", works_on="fence posts", prep="oilin'"),
    W("sledgehammer", traits="heavy", material="iron", works_on="rocks"),
    W("pickaxe", traits="heavy", material="iron", works_on="rocks", prep="sharpenin'"),
    W("mallet", material="wood"), W("anvil", traits="heavy", material="iron", works_on="horseshoes", prep="polishin'"),
    W("whetstone", works_on="butcher knives", prep="wettin'"), W("grindstone", traits="heavy", material="stone"),
    W("fishing pole", traits="bent", works_on="catfish", prep="riggin'", parts="fishing line, fishhook"),
    W("fishhook", traits="sharp", material="steel", works_on="bass", prep="baitin'"),
    W("net", material="rope", works_on="minnows", prep="mendin'"), W("trap", traits="rusty", material="iron", works_on="rabbits", prep="settin'"),
    W("ladder", traits="wobbly rickety", material="wood", parts="rungs"), W("sawhorse", traits="wobbly", material="wood"),
    W("vise", material="iron"), W("clamp", material="iron"), W("trowel", material="steel"),
    W("watering can", traits="leaky", material="tin", holds="water"), W("garden hose", traits="leaky", material="rubber"),
    W("branding iron", traits="hot", material="iron"), W("tape measure"), W("paintbrush", traits="stiff"),
    W("oil can", traits="greasy", material="tin"),
    W("saddle", traits="stiff", material="leather", prep="soapin'"), W("bridle", material="leather", prep="soapin'"),
    W("harness", material="leather", prep="mendin'"), W("horseshoe", material="iron", prep="nailin' on"),
    W("dog collar", material="leather", prep="buyin'"),
)

HOUSEHOLD = words(
    "household",
    W("rocking chair", traits="creaky", material="wood", parts="rockers, seat"), W("quilt", traits="warm", material="cotton"),
    W("lamp", traits="dim", parts="wick, shade"), W("lantern", traits="dim", material="tin", parts="wick, handle", prep="lightin'"),
    W("candle", traits="dim", material="wax", parts="wick"), W("broom", material="straw", parts="handle, bristles"),
    W("mop", traits="dirty", material="cotton", parts="handle"), W("washboard", material="tin"),
    W("clock", traits="slow", parts="springs, pendulum"), W("mirror", material="glass"), W("rug", traits="dusty", material="wool"),
    W("bed", traits="creaky", material="wood", parts="mattress, pillows, quilt"), W("pillow", traits="soft lumpy", material="cotton"),
    W("mattress", traits="lumpy"), W("blanket", traits="warm scratchy", material="wool"), W("cradle", material="wood"),
    W("dresser", material="wood", holds="socks, sweaters"), W("table", traits="wobbly", material="wood"), W("chair", traits="wobbly creaky", material="wood"),
    W("bench", traits="hard", material="wood"), W("stool", traits="wobbly", material="wood"), W("couch", traits="lumpy"),
    W("porch swing", traits="creaky", material="wood"), W("clothesline", traits="saggy", material="rope"),
    W("clothespin", material="wood"), W("fan", traits="loud"), W("radio", traits="loud"), W("television", traits="loud"),
    W("telephone", traits="loud"), W("calendar", material="paper"), W("newspaper", traits="nosy", material="paper"),
    W("book", traits="dusty heavy", material="paper"), W("letter", material="paper"), W("photograph", traits="faded", material="paper"),
    W("penny", traits="shiny", material="copper"), W("money", "mass"), W("key", traits="shiny", material="brass"),
    W("match"), W("sewing machine", parts="needle, thread, pedal"), W("thimble", material="tin"),
    W("needle", traits="sharp", material="steel"), W("thread", "mass"), W("yarn", "mass"), W("doormat", traits="dirty", material="burlap"),
    W("flyswatter"), W("mousetrap", material="wood"), W("umbrella", traits="leaky", material="canvas", parts="handle, spokes", prep="openin'"),
    W("suitcase", traits="heavy", material="leather", holds="socks, shirts"), W("wallet", traits="empty thin", material="leather", holds="money"),
    W("pocketknife", traits="sharp dull", material="steel", parts="blade, handle"), W("pocket watch", traits="slow", parts="springs, chain"),
    W("spectacles", "plural", traits="dusty"), W("walking cane", material="wood"), W("bathtub", material="tin"),
    W("soap", "mass", traits="slippery"), W("towel", traits="scratchy", material="cotton"), W("comb"), W("razor", traits="sharp dull"),
    W("chalkboard", traits="dusty"), W("desk", traits="wobbly", material="wood"), W("rocker", material="wood"), W("shade"),
)

PASTIMES = words(
    "pastime",
    W("fiddle", traits="squeaky loud", material="wood", parts="strings, bow"), W("banjo", traits="loud twangy", material="wood", parts="strings"),
    W("guitar", material="wood", parts="strings"), W("harmonica", traits="whiny"), W("piano", traits="loud", parts="strings, pedals"),
    W("accordion", traits="wheezy loud"), W("drum", traits="loud", material="leather"), W("kazoo", traits="whiny"),
    W("checkerboard", material="wood"), W("domino"), W("marble", material="glass"), W("kite", parts="string, paper, sticks"),
    W("yo-yo", parts="string"), W("slingshot", material="rubber"), W("jump rope", material="rope"), W("baseball", material="leather"),
    W("playing card", material="paper"), W("rocking horse", material="wood"), W("jigsaw puzzle"),
    W("string", prep="untanglin'"), W("bow", prep="rosinin'"),
)

MATERIALS = words(
    "material",
    W("iron", "mass", traits="heavy", decay="rust"), W("tin", "mass", traits="cheap thin", decay="rust"),
    W("steel", "mass", traits="hard", decay="rust"), W("wire", "mass", decay="rust"),
    W("copper", "mass", decay="turn green", exposure="weather"), W("brass", "mass", traits="shiny", decay="tarnish", exposure="damp"),
    W("wood", "mass", traits="dry", decay="rot"), W("leather", "mass", traits="tough", decay="crack", exposure="sun"),
    W("wool", "mass", traits="scratchy", decay="shrink", exposure="wash"), W("cotton", "mass", traits="soft", decay="mildew", exposure="damp"),
    W("denim", "mass", traits="stiff tough", decay="shrink", exposure="wash"), W("flannel", "mass", traits="soft", decay="shrink", exposure="wash"),
    W("felt", "mass", decay="droop"), W("canvas", "mass", traits="stiff", decay="mildew", exposure="damp"),
    W("burlap", "mass", traits="scratchy", decay="rot"), W("straw", "mass", traits="dry", decay="rot"),
    W("rope", "mass", traits="frayed", decay="rot"), W("paper", "mass", traits="flimsy thin", decay="turn to mush"),
    W("glass", "mass", decay="break", exposure="drop"), W("clay", "mass", traits="soft", decay="break", exposure="drop"),
    W("wax", "mass", traits="soft", decay="melt", exposure="sun"), W("rubber", "mass", traits="stretchy", decay="crack", exposure="sun"),
    W("stone", "mass", traits="hard cold"), W("brick", traits="heavy"), W("kindling", "mass", traits="dry"),
    W("firewood", "mass", traits="dry"),
)

THINGS = KITCHEN + CONTAINERS + TOOLS + HOUSEHOLD + PASTIMES + MATERIALS
