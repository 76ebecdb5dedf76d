"""Categories: how people ask about them, and the category-wide facts the templates lean on.

`treat` phrases finish "A mule is a mule, no matter ..."; `gone` finishes "the barn's already
..."; `prep` is how you fuss over a part of this kind ("oilin'" the hinges). {it} is the word's
object pronoun ("it" or "them"). Folks get no {it}: a person is not an "it".
"""

from __future__ import annotations

from slmforge.corpora.folksy.lexicon import Category

_CRITTER_TREAT = ("how you brush {it}", "what you name {it}", "how much you paid for {it}", "how well you feed {it}")
_FOOD_TREAT = ("how you slice {it}", "what plate you put {it} on", "how fancy you say {it}", "who cooked {it}")

CATEGORIES = (
    Category("livestock", ("livestock", "farm animals", "the barnyard"), _CRITTER_TREAT,
             ("run off", "gone to the auction", "sold to the neighbors"), ("brushin'", "feedin'")),
    Category("wildlife", ("wild critters", "wildlife", "critters in the woods"), ("what you name {it}", "how tame you try to make {it}", "where you find {it}")),
    Category("bird", ("birds", "feathered critters", "the birds in the yard"), ("what you name {it}", "what song you teach {it}", "what tree you find {it} in")),
    Category("bug", ("bugs", "creepy-crawlies", "insects"), ("how hard you swat {it}", "what you call {it}")),
    Category("water critter", ("fish", "critters in the creek", "fishin'"), ("how you fry {it}", "what hook you catch {it} on", "how you clean {it}")),
    Category("dish", ("food", "home cookin'", "supper", "vittles"), _FOOD_TREAT,
             ("burnt", "gone cold", "in the dog", "on the floor")),
    Category("produce", ("the garden", "fruits and vegetables", "produce"), ("how you slice {it}", "what you pay for {it} at the market", "which row you picked {it} from"),
             (), ("choppin'", "washin'", "slicin'")),
    Category("pantry", ("the pantry", "bakin'", "groceries"), ("what jar you keep {it} in", "what you pay for {it}", "how you measure {it}"),
             (), ("fetchin'", "measurin' out")),
    Category("meat", ("meat", "the smokehouse", "the butcher shop"), ("how you slice {it}", "how long you smoke {it}", "what you season {it} with"),
             (), ("trimmin'", "seasonin'")),
    Category("drink", ("drinks", "somethin' to drink", "what's in the cooler"), ("what glass you pour {it} in", "who pours {it}", "how cold you serve {it}"),
             ("spilled", "gone flat", "poured out"), ("fetchin'", "pourin'")),
    Category("kitchen", ("the kitchen", "pots and pans", "kitchen things"), ("how you scrub {it}", "how shiny you get {it}", "whose kitchen you found {it} in"),
             ("busted", "given away", "gone to the church rummage sale"), ("scrubbin'", "polishin'")),
    Category("container", ("jars and jugs", "containers", "things you keep things in"), ("what you put in {it}", "how you label {it}", "where you keep {it}"),
             ("busted", "leakin'", "lost"), ("cleanin' out", "scrubbin' out")),
    Category("tool", ("tools", "the toolshed", "hand tools"), ("how you hold {it}", "whose shed you keep {it} in", "what you paid for {it}"),
             ("lost", "busted", "loaned to the neighbors"), ("fetchin'", "cleanin'")),
    Category("household", ("the house", "household things", "home"), ("where you put {it}", "how you dust {it}", "whose house you keep {it} in"),
             ("busted", "given away", "sold at the yard sale"), ("dustin'", "fixin'", "polishin'")),
    Category("pastime", ("music", "fun and games", "a Saturday night"), ("how you play {it}", "who's playin' {it}", "what you paid for {it}"),
             ("busted", "lost", "traded off"), ("tunin'", "polishin'")),
    Category("material", ("materials", "what things are made of", "buildin' supplies"), ("how you cut {it}", "what you make out of {it}", "what the catalog calls {it}"),
             ("used up", "spoken for"), ("cuttin'", "measurin'")),
    Category("clothing", ("clothes", "what folks wear", "Sunday best"), ("how you iron {it}", "who's wearin' {it}", "how you fold {it}"),
             ("worn to rags", "full of holes", "lost in the wash"), ("brushin' off", "mendin'")),
    Category("clothing part", ("sewin'", "mendin'", "buttons and buckles"), ("how you sew {it} on", "how you shine {it}"),
             (), ("sewin' on", "mendin'")),
    Category("vehicle", ("wagons and trucks", "gettin' around", "vehicles"), ("what color you paint {it}", "who's drivin' {it}", "how you park {it}"),
             ("in the ditch", "sold for scrap", "rusted through", "stuck in the mud")),
    Category("machine part", ("machinery", "engines and wheels", "spare parts"), ("how you polish {it}", "what you bolt {it} to"),
             (), ("greasin'", "polishin'", "fixin'")),
    Category("building", ("buildings", "the farm", "around the homeplace"), ("what color you paint {it}", "how big a sign you hang on {it}", "who lives in {it}"),
             ("burned down", "fallen in", "blown over", "gone to the bank")),
    Category("building part", ("fixin' up the house", "the hardware store", "odds and ends around the house"), ("what color you paint {it}", "how much you paid for {it}"),
             ("busted", "fallen off", "rotted through"), ("fixin'", "paintin'", "polishin'")),
    Category("land", ("the land", "the country", "the great outdoors"), ("what you name {it}", "what the map calls {it}", "who owns {it}"),
             ("dried up", "sold off", "flooded")),
    Category("plant", ("plants", "trees", "growin' things"), ("where you plant {it}", "how you prune {it}", "what you call {it}"),
             ("dead", "cut down", "struck by lightning"), ("waterin'", "trimmin'")),
    Category("weather", ("the weather", "the sky", "the almanac"), ("what the almanac says about {it}", "who's prayin' for {it}", "how you cuss at {it}"),
             ("passed", "blown over", "come and gone")),
    Category("folks", ("folks", "people in town", "the trades", "work"), ("what the sign out front says", "who's payin'", "what hat they wear")),
)
