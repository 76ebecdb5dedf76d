"""What the appliance catalog sells: categories with their size scale and features, brands, conditions.

Prices here are list prices for a reference size from a mid-range brand, new; `pricing` turns
an item into a price. None of these numbers reach the records: the model sees only the listing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    name: str  # as the listing writes it
    premium: float  # +8 % -> 0.08
    prefix: str = ""  # how a title puts it before the noun ("French Door Refrigerator"); "" -> "with ice maker"


@dataclass(frozen=True)
class ApplianceCategory:
    name: str  # singular, as in a title: "French Door Refrigerator" comes from noun + features
    plural: str  # the listing's "Category:" line
    noun: str
    unit: str  # "cu. ft.", "BTU", ...
    low: float
    high: float
    step: float  # sizes come in steps: 0.1 cu. ft., 1,000 BTU
    reference: float
    base: float  # list price in dollars at the reference size
    elasticity: float  # price ~ (size / reference) ** elasticity
    features: tuple[Feature, ...]


def _f(spec: str) -> tuple[Feature, ...]:
    """'French doors>French Door:0.15, ice maker:0.08' -> Features (after '>': the title prefix)."""
    features = []
    for item in spec.split(","):
        name, premium = item.rsplit(":", 1)
        name, _, prefix = name.strip().partition(">")
        features.append(Feature(name, float(premium), prefix))
    return tuple(features)


CATEGORIES = (
    ApplianceCategory("refrigerator", "Refrigerators", "Refrigerator", "cu. ft.", 10, 28, 0.1, 20, 1100, 0.8,
                      _f("French doors>French Door:0.15, ice maker:0.08, water dispenser:0.06, Wi-Fi:0.05, stainless finish:0.07, Energy Star:0.03")),
    ApplianceCategory("washer", "Washers", "Washing Machine", "cu. ft.", 3.0, 5.5, 0.1, 4.5, 750, 0.7,
                      _f("front load>Front Load:0.15, steam cycle:0.07, Wi-Fi:0.05, stainless drum:0.04, Energy Star:0.03")),
    ApplianceCategory("dryer", "Dryers", "Dryer", "cu. ft.", 6.0, 8.0, 0.1, 7.4, 700, 0.7,
                      _f("steam cycle:0.08, sensor dry:0.05, Wi-Fi:0.05, gas>Gas:0.06, Energy Star:0.03")),
    ApplianceCategory("dishwasher", "Dishwashers", "Dishwasher", "place settings", 8, 16, 1, 14, 650, 0.5,
                      _f("third rack:0.07, stainless tub:0.08, quiet 42 dB:0.10, Wi-Fi:0.05, Energy Star:0.03")),
    ApplianceCategory("microwave", "Microwaves", "Microwave", "cu. ft.", 0.7, 2.2, 0.1, 1.6, 160, 0.6,
                      _f("over-the-range>Over-the-Range:0.40, convection>Convection:0.35, sensor cooking:0.06, stainless finish:0.07")),
    ApplianceCategory("range", "Ranges", "Electric Range", "cu. ft.", 4.8, 6.3, 0.1, 5.3, 950, 0.9,
                      _f("induction>Induction:0.35, double oven>Double Oven:0.30, convection:0.12, air fry:0.08, self-clean:0.05, stainless finish:0.07")),
    ApplianceCategory("air conditioner", "Air Conditioners", "Window Air Conditioner", "BTU", 5000, 18000, 1000, 10000, 380, 0.85,
                      _f("inverter>Inverter:0.25, heat pump:0.20, Wi-Fi:0.06, remote control:0.03, Energy Star:0.04")),
    ApplianceCategory("dehumidifier", "Dehumidifiers", "Dehumidifier", "pints/day", 20, 70, 5, 50, 220, 0.6,
                      _f("built-in pump:0.18, Wi-Fi:0.06, auto-restart:0.02, Energy Star:0.04")),
    ApplianceCategory("vacuum", "Vacuum Cleaners", "Vacuum Cleaner", "amps", 6, 12, 1, 10, 220, 0.6,
                      _f("cordless>Cordless:0.40, self-emptying base:0.45, HEPA filter:0.08, pet hair tool:0.05, bagless:0.04")),
    ApplianceCategory("blender", "Blenders", "Blender", "watts", 500, 1800, 100, 1000, 110, 0.7,
                      _f("heating element:0.25, vacuum blending:0.20, smart programs:0.10, personal cups:0.06")),
    ApplianceCategory("coffee maker", "Coffee Makers", "Coffee Maker", "cups", 4, 14, 1, 12, 90, 0.4,
                      _f("espresso>Espresso:1.20, built-in grinder:0.60, milk frother:0.20, thermal carafe:0.15, programmable:0.05")),
    ApplianceCategory("toaster", "Toasters", "Toaster", "slices", 2, 6, 2, 4, 50, 0.6,
                      _f("wide slots:0.06, bagel setting:0.04, stainless finish:0.08")),
    ApplianceCategory("toaster oven", "Toaster Ovens", "Toaster Oven", "cu. ft.", 0.5, 1.2, 0.1, 0.8, 130, 0.7,
                      _f("air fry:0.25, convection:0.20, rotisserie:0.12")),
    ApplianceCategory("air fryer", "Air Fryers", "Air Fryer", "quarts", 2, 10, 1, 6, 110, 0.5,
                      _f("dual basket>Dual Basket:0.30, viewing window:0.08, Wi-Fi:0.10, rotisserie:0.10")),
    ApplianceCategory("stand mixer", "Stand Mixers", "Stand Mixer", "quarts", 4.5, 7.0, 0.5, 5.5, 350, 0.8,
                      _f("bowl lift:0.15, attachment pack:0.20, glass bowl:0.05")),
    ApplianceCategory("water heater", "Water Heaters", "Water Heater", "gallons", 30, 80, 10, 50, 900, 0.7,
                      _f("heat pump>Heat Pump:0.80, gas>Gas:0.15, Wi-Fi:0.06")),
    ApplianceCategory("freezer", "Freezers", "Chest Freezer", "cu. ft.", 5, 25, 1, 15, 450, 0.7,
                      _f("garage ready:0.08, fast freeze:0.05, lock:0.02, Energy Star:0.03")),
    ApplianceCategory("range hood", "Range Hoods", "Range Hood", "in. wide", 24, 48, 6, 30, 300, 1.0,
                      _f("ducted:0.10, LED lights:0.05, touch controls:0.08, stainless finish:0.07")),
    ApplianceCategory("garbage disposal", "Garbage Disposals", "Garbage Disposal", "HP", 0.33, 1.25, 0.01, 0.75, 150, 0.9,
                      _f("stainless grind chamber:0.20, quiet collar:0.10, continuous feed:0.03")),
    ApplianceCategory("space heater", "Space Heaters", "Space Heater", "watts", 750, 1500, 250, 1500, 70, 0.6,
                      _f("oil-filled>Oil-Filled:0.30, thermostat:0.08, remote control:0.08, tip-over switch:0.03")),
    ApplianceCategory("humidifier", "Humidifiers", "Humidifier", "gallons", 0.5, 4.0, 0.5, 1.5, 80, 0.5,
                      _f("warm mist>Warm Mist:0.20, ultrasonic:0.10, Wi-Fi:0.15")),
    ApplianceCategory("electric kettle", "Electric Kettles", "Electric Kettle", "liters", 0.8, 1.8, 0.1, 1.7, 45, 0.5,
                      _f("temperature control:0.50, gooseneck spout:0.30, glass body:0.10, keep warm:0.10")),
    ApplianceCategory("rice cooker", "Rice Cookers", "Rice Cooker", "cups", 3, 10, 1, 6, 90, 0.5,
                      _f("induction heating>Induction:1.20, fuzzy logic:0.50, slow cook:0.08")),
    ApplianceCategory("slow cooker", "Slow Cookers", "Slow Cooker", "quarts", 3, 8, 1, 6, 55, 0.6,
                      _f("searing insert:0.30, programmable:0.20, locking lid:0.10")),
    ApplianceCategory("food processor", "Food Processors", "Food Processor", "cups", 3, 16, 1, 11, 140, 0.7,
                      _f("dicing kit:0.25, spiralizer:0.12, mini bowl:0.08")),
    ApplianceCategory("wine cooler", "Wine Coolers", "Wine Cooler", "bottles", 12, 54, 6, 30, 400, 0.8,
                      _f("dual zone>Dual Zone:0.25, built-in>Built-In:0.20, glass door:0.05")),
    ApplianceCategory("ice maker", "Ice Makers", "Ice Maker", "lbs/day", 26, 80, 2, 40, 300, 0.7,
                      _f("nugget ice>Nugget:0.60, self-cleaning:0.10, built-in>Built-In:0.30")),
)

# (brand, tier) - invented names: a model should learn the tier from the name, as it would a real brand's.
BRANDS = (
    ("Valuline", "budget"), ("HomeBasics", "budget"), ("Brightway", "budget"), ("Kitchenette", "budget"),
    ("Arcwell", "mid"), ("Northgate", "mid"), ("Maple & Finch", "mid"), ("Duxbury", "mid"), ("Glenholt", "mid"),
    ("Frostmere", "premium"), ("Ironbark", "premium"), ("Lumora", "premium"), ("Kestrel", "premium"),
    ("Harrowgate", "luxury"), ("Vanterre", "luxury"), ("Sable & Stone", "luxury"),
)
TIERS = {"budget": 0.72, "mid": 1.0, "premium": 1.35, "luxury": 1.9}
# How much of a new price each condition keeps, best first.
CONDITIONS = {"New": 1.0, "Open box": 0.88, "Refurbished": 0.74, "Used - like new": 0.66, "Used - good": 0.55, "Used - fair": 0.42}
WARRANTY_YEARS = (0, 1, 2, 3, 5)
COLORS = ("White", "Black", "Stainless steel", "Slate", "Black stainless", "Bisque")
