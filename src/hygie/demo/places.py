"""Real communes (INSEE code, postcode, name) and countries of birth (INSEE country codes)."""

from __future__ import annotations

from typing import NamedTuple


class Commune(NamedTuple):
    insee: str  # 5 characters: department (2, `2A`/`2B` in Corsica) + commune (3)
    postcode: str
    name: str


COMMUNES = (
    Commune("75115", "75015", "Paris 15e Arrondissement"),
    Commune("75118", "75018", "Paris 18e Arrondissement"),
    Commune("75111", "75011", "Paris 11e Arrondissement"),
    Commune("69383", "69003", "Lyon 3e Arrondissement"),
    Commune("13206", "13006", "Marseille 6e Arrondissement"),
    Commune("31555", "31000", "Toulouse"),
    Commune("06088", "06000", "Nice"),
    Commune("44109", "44000", "Nantes"),
    Commune("67482", "67000", "Strasbourg"),
    Commune("34172", "34000", "Montpellier"),
    Commune("33063", "33000", "Bordeaux"),
    Commune("59350", "59000", "Lille"),
    Commune("35238", "35000", "Rennes"),
    Commune("51454", "51100", "Reims"),
    Commune("42218", "42000", "Saint-Étienne"),
    Commune("83137", "83000", "Toulon"),
    Commune("38185", "38000", "Grenoble"),
    Commune("21231", "21000", "Dijon"),
    Commune("49007", "49000", "Angers"),
    Commune("30189", "30000", "Nîmes"),
    Commune("29019", "29200", "Brest"),
    Commune("87085", "87000", "Limoges"),
    Commune("63113", "63000", "Clermont-Ferrand"),
    Commune("37261", "37000", "Tours"),
    Commune("80021", "80000", "Amiens"),
    Commune("57463", "57000", "Metz"),
    Commune("25056", "25000", "Besançon"),
    Commune("66136", "66000", "Perpignan"),
    Commune("45234", "45000", "Orléans"),
    Commune("76540", "76000", "Rouen"),
    Commune("14118", "14000", "Caen"),
    Commune("54395", "54000", "Nancy"),
    Commune("64445", "64000", "Pau"),
    Commune("17300", "17000", "La Rochelle"),
    Commune("86194", "86000", "Poitiers"),
    Commune("2A004", "20000", "Ajaccio"),
    Commune("2B033", "20200", "Bastia"),
    Commune("97411", "97400", "Saint-Denis"),
)

# INSEE codes of countries of birth (the NIR carries `99` + these 3 digits).
COUNTRIES = (
    ("99350", "Maroc"),
    ("99352", "Algérie"),
    ("99351", "Tunisie"),
    ("99139", "Portugal"),
    ("99134", "Espagne"),
    ("99127", "Italie"),
    ("99131", "Belgique"),
    ("99109", "Allemagne"),
    ("99341", "Sénégal"),
)
