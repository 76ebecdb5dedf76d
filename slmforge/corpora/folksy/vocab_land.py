"""The place itself: buildings and their parts, the land, growing things, the weather."""

from __future__ import annotations

from slmforge.corpora.folksy.lexicon import W, words

BUILDINGS = words(
    "building",
    W("barn", traits="drafty", material="wood", parts="roof, doors, hinges, rafters, hayloft", holds="hay"),
    W("shed", traits="rickety", material="wood", parts="roof, door, hinges"),
    W("henhouse", traits="smelly", material="wood", parts="roof, door", holds="eggs"),
    W("outhouse", traits="smelly drafty", material="wood", parts="door, seat"),
    W("smokehouse", traits="smoky", material="wood", parts="roof, door", holds="ham, bacon, sausage"),
    W("corn crib", material="wood", holds="corn"), W("silo", traits="tall", holds="corn"),
    W("windmill", traits="squeaky", parts="blades, water pump", gone="blown over"),
    W("woodshed", material="wood", parts="roof, door", holds="firewood"), W("toolshed", material="wood", parts="roof, door", holds="shovels, rakes"),
    W("cabin", traits="drafty", material="wood", parts="chimney, roof, porch, door"),
    W("farmhouse", traits="drafty", material="wood", parts="porch, roof, chimney, windows"),
    W("church", traits="quiet", parts="steeple, pews, bell, doors"), W("courthouse", traits="slow", parts="steps, clock, doors"),
    W("schoolhouse", traits="drafty", material="wood", parts="bell, chalkboard, desks", holds="books"), W("general store", holds="nails, flour, candy, crackers, pickles"),
    W("post office", traits="slow", holds="letters"), W("jail", traits="quiet"), W("feed store", holds="feed sacks, seeds"),
    W("diner", traits="greasy", holds="coffee, pecan pie, biscuits, gravy"), W("train depot", traits="drafty"), W("bank", traits="stingy", holds="money"),
    W("gristmill", parts="millstone, water wheel", holds="flour, cornmeal"), W("blacksmith shop", traits="smoky", parts="anvil", holds="horseshoes"),
    W("doghouse", material="wood"), W("pigpen", traits="muddy smelly", holds="hogs, mud"),
    W("root cellar", traits="dark cold", holds="potatoes, turnips, jars"),
    W("well", traits="deep", parts="bucket, rope, crank", holds="water", gone="dried up"),
    W("bridge", traits="rickety", material="wood", parts="planks, rails", gone="washed out"),
    W("water tower", traits="tall", holds="water"), W("tree house", traits="rickety", material="wood", parts="ladder, planks, roof"),
    W("gas station", traits="greasy"), W("barbershop", traits="nosy"), W("saloon", traits="loud", holds="whiskey"),
)

BUILDING_PARTS = words(
    "building part",
    W("door", traits="squeaky", material="wood", parts="hinges, doorknob, lock", prep="paintin'"),
    W("window", traits="drafty dirty", material="glass", parts="shutters", prep="washin'"),
    W("roof", traits="leaky", material="tin", parts="shingles, rafters", prep="patchin'"),
    W("chimney", traits="sooty black", parts="bricks", prep="sweepin'"), W("porch", traits="saggy", material="wood", parts="steps, porch swing", prep="sweepin'"),
    W("shingle", traits="loose", material="wood", prep="nailin' down"), W("nail", traits="rusty crooked bent", material="iron", prep="straightenin'"),
    W("board", traits="warped crooked", material="wood", prep="sandin'"), W("plank", traits="warped", material="wood", prep="sandin'"),
    W("fence post", traits="crooked", material="wood", prep="paintin'"), W("fence", traits="crooked saggy", material="wood", parts="fence posts, rails, gate", prep="whitewashin'"),
    W("gate", traits="squeaky crooked", material="wood", parts="hinges, latch", prep="paintin'"), W("hinge", traits="squeaky rusty", material="iron", prep="oilin'"),
    W("latch", traits="rusty", material="iron", prep="oilin'"), W("doorknob", traits="loose", material="brass", prep="polishin'"),
    W("step", traits="creaky", material="wood", prep="sweepin'"), W("rafter", material="wood", prep="patchin'"),
    W("floorboard", traits="squeaky", material="wood", prep="sandin'"), W("screen door", traits="squeaky loud", material="wire", prep="patchin'"),
    W("shutter", traits="loose", material="wood", prep="paintin'"), W("gutter", traits="leaky", material="tin", prep="cleanin' out"),
    W("pew", traits="hard", material="wood", prep="polishin'"), W("bell", traits="loud", material="brass", prep="polishin'"),
    W("bolt", traits="rusty loose", material="steel", prep="tightenin'"), W("screw", traits="loose", material="steel", prep="tightenin'"),
    W("rail", traits="wobbly", material="wood", prep="paintin'"), W("stovepipe", traits="sooty", material="tin", prep="cleanin' out"),
    W("fireplace", traits="smoky", parts="bricks, chimney", prep="sweepin' out"), W("mailbox", traits="dented", material="tin", prep="paintin'"),
    W("weathervane", material="copper", prep="oilin'"), W("lock", traits="rusty", material="brass", prep="oilin'"),
    W("water pump", traits="rusty", material="iron", parts="handle", prep="primin'"), W("hayloft", traits="dusty", prep="sweepin' out"),
    W("trapdoor", traits="squeaky", material="wood", prep="oilin'"), W("steeple", traits="tall", prep="paintin'"),
    W("millstone", traits="heavy", material="stone", prep="dressin'"), W("water wheel", traits="slow", material="wood", prep="greasin'"),
    W("crank", traits="rusty", material="iron", prep="greasin'"),
)

LAND = words(
    "land",
    W("creek", traits="muddy shallow", holds="crawdads, minnows, tadpoles"), W("river", traits="muddy deep", holds="catfish, bass", gone="flooded"),
    W("pond", traits="muddy still", holds="bullfrogs, bluegill, tadpoles"), W("lake", traits="deep cold", holds="bass, trout"),
    W("hill", traits="steep"), W("holler", traits="dark quiet"), W("field", traits="dusty"), W("pasture", traits="green", holds="cows, horses"),
    W("meadow", traits="green", holds="clover"), W("swamp", traits="muddy smelly", holds="alligators, mosquitoes"), W("bayou", traits="muddy slow", holds="catfish"),
    W("ditch", traits="muddy deep"), W("road", traits="bumpy dusty"), W("dirt road", traits="dusty bumpy"),
    W("mountain", traits="steep"), W("valley", traits="green"), W("woods", "plural", traits="dark", holds="deer, squirrels"),
    W("orchard", holds="peaches, apples, pears"), W("garden", traits="weedy", holds="tomatoes, beans, okra, squash"), W("cornfield", holds="corn"),
    W("hayfield", holds="hay"), W("cotton field", holds="cotton"), W("riverbank", traits="muddy"), W("mud", "mass", traits="sticky"),
    W("dirt", "mass", traits="dusty"), W("rock", traits="hard"), W("boulder", traits="heavy stubborn"), W("puddle", traits="muddy shallow"),
    W("fishing hole", traits="muddy", holds="catfish"), W("prairie", traits="dusty"), W("cave", traits="dark cold"), W("gully", traits="muddy"),
    W("sandbar", traits="shallow"), W("island"), W("swimming hole", traits="cold", holds="water"),
)

PLANTS = words(
    "plant",
    W("oak", traits="stubborn sturdy", holds="squirrels", parts="acorns, bark, branches, roots, leaves"),
    W("pine", traits="sticky tall", parts="pine cones, bark, branches"), W("willow", traits="droopy", parts="branches, roots, leaves"),
    W("maple", traits="sticky", parts="leaves, bark, branches"), W("magnolia", traits="proud sweet", parts="blossoms, leaves"),
    W("dogwood", parts="blossoms, branches"), W("pecan tree", parts="pecans, bark, branches"),
    W("apple tree", parts="apples, blossoms, branches"), W("peach tree", parts="peaches, blossoms"),
    W("cedar", traits="smelly"), W("cypress", traits="stubborn", parts="roots, bark"), W("sycamore", traits="tall"), W("hickory", traits="tough"),
    W("elm", traits="tall"), W("sunflower", traits="tall proud", parts="seeds, leaves"), W("dandelion", traits="stubborn", parts="seeds, roots"),
    W("kudzu", "mass", traits="greedy pushy"), W("thistle", traits="prickly", parts="thorns"), W("clover", "mass", traits="sweet"),
    W("rose", traits="prickly pretty", parts="thorns, blossoms"), W("honeysuckle", "mass", traits="sweet"),
    W("ivy", "mass", traits="pushy"), W("moss", "mass", traits="slow green"), W("cattail", traits="tall"), W("cactus", traits="prickly", parts="thorns"),
    W("tumbleweed", traits="restless"), W("weed", traits="stubborn"), W("tobacco", "mass", traits="smelly"), W("wheat", "mass"),
    W("hay", "mass", traits="dry scratchy"), W("cornstalk", traits="tall", parts="corn, leaves"), W("briar", traits="prickly", parts="thorns"),
    W("poison ivy", "mass", traits="itchy"), W("mistletoe", "mass"), W("morning glory", traits="pushy"), W("lilac", traits="sweet"),
    W("azalea", traits="pretty"), W("fern", traits="green"), W("mushroom", traits="slimy"), W("toadstool", traits="ugly"),
    W("acorn", traits="small", prep="gatherin'"), W("root", traits="stubborn", prep="waterin'"), W("bark", "mass", traits="rough"),
    W("branch", traits="crooked", prep="trimmin'"), W("leaf", traits="dry", prep="rakin'"), W("seed", traits="small", prep="savin'"),
    W("thorn", traits="sharp", prep="trimmin'"), W("stump", traits="stubborn"), W("pine cone", traits="prickly", prep="gatherin'"),
    W("blossom", traits="pretty", prep="countin'"), W("vine", traits="pushy", prep="trimmin'"), W("log", traits="heavy"),
    W("stick", traits="crooked"), W("twig", traits="small"),
)

WEATHER = words(
    "weather",
    W("sun", traits="hot", gear="straw hat"), W("moon", traits="bright"), W("star", traits="bright"), W("cloud", traits="gloomy"),
    W("thunderstorm", traits="loud", gear="umbrella, raincoat"), W("tornado", traits="restless"), W("rain", "mass", traits="wet cold", gear="umbrella, raincoat, galoshes"),
    W("snow", "mass", traits="cold wet", gear="mittens, long johns, sweater"), W("hail", "mass", traits="loud"), W("frost", "mass", traits="cold"),
    W("fog", "mass", traits="thick", gear="lantern"), W("lightning", "mass", traits="quick"), W("thunder", "mass", traits="loud"),
    W("rainbow", traits="pretty"), W("dew", "mass", traits="wet"), W("wind", traits="restless cold", gear="coat, hat"),
    W("drought", traits="dry"), W("blizzard", traits="cold", gear="coat, mittens, scarf"), W("flood", traits="muddy"),
)

PLACES = BUILDINGS + BUILDING_PARTS + LAND + PLANTS + WEATHER
