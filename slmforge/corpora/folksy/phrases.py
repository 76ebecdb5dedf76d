"""The folksy stock phrases the templates finish with. {its} / {it_is} agree with the word they follow."""

from __future__ import annotations

# "A wrench is just a hammer with ..."
WITH = (
    "a Sunday hat on", "more attitude", "a college education", "{its} hair combed", "fancier relatives",
    "a good lawyer", "a bigger mouth", "nowhere to be on Sunday", "a head start", "less sense",
    "somethin' to prove", "a better reputation", "a nicer paint job", "a higher price tag", "bigger ideas",
    "a fancy name", "a chip on {its} shoulder", "city manners", "store-bought manners", "a borrowed suit",
    "a salesman's grin", "delusions of grandeur", "too much free time", "a government job", "a better story",
    "a mean streak", "an attitude problem", "a little more polish", "a banker's confidence", "no sense of humor",
)

# "A mule ain't nothin' but a horse that ..."
THAT = (
    "got above {its} raisin'", "went to town once", "put on airs", "got religion", "married into money",
    "read a book once", "moved to the city", "got too big for {its} britches", "won a ribbon at the county fair",
    "learned to talk back", "got a fresh coat of paint", "ran for office", "went off to college",
    "found a good tailor", "quit listenin' to {its} mama", "got lucky at cards", "never learned to sit still",
    "heard one compliment too many", "got a raise", "joined the Rotary Club", "saw {its} name in the paper",
)

# "The only difference between a mule and a horse is ..."
DIFFERENCE = (
    "the price tag", "who's tellin' the story", "about a week", "the paint job", "which one your mama liked better",
    "how wide the salesman's grinnin'", "a good story", "about twenty dollars", "which one you tripped over last",
    "a little elbow grease", "what the catalog says", "the name on the tag", "how loud folks brag about it",
    "which side of the river you're standin' on",
)

# "A mule and a horse: same ..., different ..."
SAME_DIFFERENT = (
    ("horse", "saddle"), ("dance", "fiddler"), ("pie", "plate"), ("song", "verse"), ("church", "pew"),
    ("mule", "hat"), ("coffee", "cup"), ("road", "ruts"), ("sermon", "preacher"), ("dog", "collar"),
)

# "A mule is just a horse ..."
DISGUISED = (
    "in a Sunday suit", "with a fancier name", "in a borrowed hat", "with a better story", "that got lucky",
    "with {its} hair slicked back", "wearin' somebody else's boots", "with a new sign out front",
)

# "Might as well ..."
FUTILE_ACT = (
    "whistle at the moon", "plow the creek", "teach a hog to sing", "water the rocks", "paint the wind",
    "shear a hog", "milk a bull", "bail out the creek with a fork", "fence in the fog", "sweep the yard in a dust storm",
    "carry water in a sieve", "teach a fish to climb", "wait on the mail on a Sunday",
)

OPENER_NO_SENSE = ("No sense", "Ain't no use", "No point", "Ain't no sense", "It don't pay", "Don't bother")

# "... with no logs in sight ..."
FUTILE_TAIL = ("is practicin' for disappointment", "wastes a good Saturday", "ain't work, it's worry", "won't put supper on the table", "keeps a man busy and broke")

# "The cobbler's own ... always go without boots."
KIN = ("kids", "young'uns", "grandkids", "neighbors", "in-laws", "cousins")
WHERE = ("in the county", "in three counties", "this side of the river", "in town", "on the whole road", "in the state", "on the mountain")
PLACE_IN_HOUSE = ("house", "kitchen", "cupboard", "front room")
WHEN_COMPANY = ("when company comes", "on the hottest day", "when the preacher visits", "the day the in-laws come", "when you're in a hurry",
                "come Sunday dinner", "the one day it matters", "when the cousins visit", "right before a storm", "on the first cold night")
BRAG = ("struts the most", "hollers the loudest", "fusses the most", "carries on the longest", "brags the loudest")

# "That's like a mule callin' a goat stubborn ..."
CALLING_OPENER = ("That's like", "That's just", "Sounds like", "Well, ain't that")
REFLECTION = ("in the horse trough", "in the rain barrel", "in the creek", "in the mirror", "in the stock pond")

# What weather does to a material: (how it gets there, who gets blamed).
EXPOSURES = {
    "rain": ("leave {x} in the rain", "the weather"),
    "weather": ("leave {x} out in the weather", "the weather"),
    "sun": ("leave {x} in the sun", "the sun"),
    "wash": ("throw {x} in the hot wash", "the washtub"),
    "damp": ("leave {x} in a damp cellar", "the cellar"),
    "drop": ("drop {x} on the porch steps", "the steps"),
}

# "... then blame the weather for the rust?"
DECAY_NOUN = {"rust": "the rust", "rot": "the rot", "crack": "the cracks", "shrink": "the shrinkin'", "mildew": "the mildew",
              "turn to mush": "the mush", "break": "the pieces", "melt": "the mess", "droop": "the droop",
              "tarnish": "the tarnish", "turn green": "the green"}

# Ways to ask for trouble from a critter; {x} is the critter.
PESTER = ("poke {x}", "pester {x}", "corner {x}", "mess with {x}", "tease {x}", "wake {x}", "poke {x} with a stick")
# "Poke a mule, get kicked.": what happens to you, by what the critter does.
STRUCK = {"kick": "kicked", "bite": "bit", "sting": "stung", "peck": "pecked", "scratch": "scratched", "spray": "sprayed",
          "butt": "butted", "charge": "run down", "nip": "nipped", "pinch": "pinched", "stick you": "stuck"}
AMOUNT = ("a dozen", "six", "half a dozen", "eight")

# "... and it's still a mule, ..."
STILL_TAIL = ("", ", and don't let nobody tell you different", ", same as it ever was", ", plain and simple")
HABIT_TAIL = ("", ", and that's that", ", like it or not", ", no matter what you tell {it_obj}", ", same as the sun comes up")
GENERIC_TREAT = ("what you call {it}", "how you look at {it}", "who's askin'", "what the neighbors say")
FANCY_PLACE = ("courthouse", "church", "bank", "schoolhouse", "diner", "general store", "post office")
# "Put meatloaf on a fancy plate and it's still meatloaf": where each kind of food gets served up.
SERVED = {
    "dish": ("on", ("plate", "saucer", "pie pan")),
    "meat": ("on", ("plate", "saucer")),
    "drink": ("in", ("jug", "mason jar", "tin cup", "jar")),
    "produce": ("in", ("basket", "crate", "bowl")),
    "pantry": ("in", ("jar", "sack", "bread box", "cookie jar")),
}
