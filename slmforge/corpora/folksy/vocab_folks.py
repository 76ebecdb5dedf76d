"""Folks and their trades: `makes` is what the trade makes or keeps (the cobbler's boots).

Folks are never "it", so the templates that need a pronoun leave them out (see families).
"""

from __future__ import annotations

from slmforge.corpora.folksy.lexicon import W, words

FOLKS = words(
    "folks",
    W("farmer", traits="tired grumpy", makes="corn, hay, eggs"), W("preacher", traits="long-winded", makes="church, pews"),
    W("blacksmith", traits="strong sooty", makes="horseshoes, hinges, gate"), W("baker", traits="floury", makes="bread, biscuits, doughnuts"),
    W("cobbler", traits="patient", makes="boots, shoes"), W("tailor", traits="fussy", makes="britches, shirts, vests"),
    W("carpenter", traits="patient", makes="porch, chairs, tables"), W("barber", traits="nosy chatty", makes="comb, razor"),
    W("miller", traits="dusty", makes="flour, cornmeal"), W("potter", traits="muddy", makes="jugs, bowls"),
    W("weaver", traits="patient", makes="blankets, rugs"), W("cooper", traits="busy", makes="barrels"),
    W("fisherman", traits="patient", makes="catfish, bass, trout"), W("hunter", traits="patient quiet", makes="venison, jerky"),
    W("beekeeper", traits="calm", makes="honey"), W("dairyman", traits="tired", makes="milk, butter, cream"),
    W("butcher", traits="greasy", makes="bacon, sausage, steak"), W("moonshiner", traits="sneaky", makes="moonshine"),
    W("storekeeper", traits="stingy", makes="crackers, candy, nails"), W("doctor", traits="busy", makes="spectacles"),
    W("schoolteacher", traits="fussy strict", makes="books, chalkboard, schoolhouse"), W("sheriff", traits="nosy slow", makes="jail, key"), W("mailman", traits="nosy", makes="letters"),
    W("well digger", traits="thirsty", makes="water"), W("roofer", traits="sunburnt", makes="roof"), W("house painter", traits="messy", makes="shutters, fence"),
    W("mechanic", traits="greasy", makes="pickup truck, tractor"), W("candlemaker", traits="patient", makes="candles"),
    W("chimney sweep", traits="sooty", makes="chimney"), W("rancher", traits="tough", makes="steak, beef"),
    W("cowboy", traits="dusty tough", makes="saddle, boots"), W("shepherd", traits="patient", makes="wool"),
    W("gardener", traits="muddy", makes="tomatoes, okra, squash, garden"), W("cook", traits="grumpy", makes="biscuits, gravy"),
    W("wheelwright", traits="patient", makes="wheels"), W("locksmith", traits="sly", makes="lock, key"),
    W("clockmaker", traits="fussy", makes="clock"), W("seamstress", traits="fussy", makes="dresses, aprons"),
    W("quilter", traits="patient", makes="quilts"), W("mule trader", traits="sly", makes="mules"), W("fiddler", traits="loud", makes="fiddle"),
    W("banker", traits="stingy", makes="money"), W("tinsmith", traits="noisy", makes="buckets, lanterns"), W("saddler", makes="saddle"),
    W("lumberjack", traits="strong", makes="firewood"), W("judge", traits="stubborn", makes="courthouse"), W("auctioneer", traits="loud quick"),
    W("undertaker", traits="quiet gloomy"),
)
