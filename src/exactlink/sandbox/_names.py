"""Word lists for the sandbox data generator: Dutch names, places, streets, trades and bank texts.

All entries are generic words, common surnames and place names; combined at random they describe
fictitious companies and people. Nothing here identifies a real person or a real company's numbers.
"""

from __future__ import annotations

# fmt: off
MALE_FIRST_NAMES = (
    "Jan", "Pieter", "Kees", "Henk", "Johan", "Willem", "Gerrit", "Marco", "Dennis", "Sander", "Bas", "Thijs",
    "Daan", "Lars", "Ruben", "Jeroen", "Mark", "Erik", "Martijn", "Niels", "Bram", "Tom", "Rik", "Joost", "Wouter",
    "Hans", "Frank", "Rob", "Paul", "Arjan", "Maarten", "Stefan", "Vincent", "Jasper", "Koen", "Sven", "Luuk",
    "Jesse", "Milan", "Sem", "Finn", "Teun", "Hidde", "Gijs", "Stijn", "Ruud", "Ton", "Cor", "Dirk", "Harm",
    "Mohamed", "Ahmed", "Youssef", "Mehmet", "Hüseyin", "Emre", "Rachid", "André", "René", "Rémy", "Jürgen", "Wei",
    "Rajesh", "Kwame", "Tjeerd", "Sjoerd", "Wybe", "Auke", "Douwe", "Geert", "Egbert", "Hendrik",
)

FEMALE_FIRST_NAMES = (
    "Anne", "Sanne", "Lisa", "Emma", "Eva", "Femke", "Marieke", "Linda", "Monique", "Ingrid", "Petra", "Esther",
    "Karin", "Sandra", "Annemiek", "Yvonne", "Mariska", "Judith", "Fleur", "Lotte", "Sophie", "Julia", "Iris",
    "Noor", "Anouk", "Maaike", "Marloes", "Ilse", "Inge", "Wendy", "Kim", "Manon", "Nicole", "Saskia", "Ellen",
    "Ria", "Joke", "Truus", "Els", "Marjolein", "Hanneke", "Loes", "Britt", "Tessa", "Roos", "Mila", "Zoë", "Chloë",
    "Renée", "Daphne", "Fatima", "Ayşe", "Samira", "Priya", "Mei", "Nadia", "Yara", "Hiske", "Tjitske", "Aaltje",
    "Geertje", "Wilma", "Gerda", "Bianca", "Danielle", "Mirjam", "Astrid", "Natasja", "Jolanda",
)

# (tussenvoegsel, achternaam): the tussenvoegsel goes into Exact's MiddleName.
SURNAMES = (
    ("de", "Jong"), ("", "Jansen"), ("de", "Vries"), ("van den", "Berg"), ("van", "Dijk"), ("", "Bakker"),
    ("", "Janssen"), ("", "Visser"), ("", "Smit"), ("", "Meijer"), ("de", "Boer"), ("", "Mulder"), ("de", "Groot"),
    ("", "Bos"), ("", "Vos"), ("", "Peters"), ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"),
    ("de", "Wit"), ("", "Dijkstra"), ("", "Smits"), ("de", "Graaf"), ("van der", "Meer"), ("van der", "Linden"),
    ("", "Kok"), ("", "Jacobs"), ("de", "Haan"), ("", "Vermeulen"), ("van den", "Heuvel"), ("van der", "Veen"),
    ("van den", "Broek"), ("de", "Bruijn"), ("de", "Bruin"), ("van der", "Heijden"), ("", "Schouten"),
    ("van", "Beek"), ("", "Willems"), ("van", "Vliet"), ("van de", "Ven"), ("", "Hoekstra"), ("", "Maas"),
    ("", "Verhoeven"), ("", "Koster"), ("van", "Dam"), ("van der", "Wal"), ("", "Prins"), ("", "Blom"),
    ("", "Huisman"), ("", "Peeters"), ("de", "Jonge"), ("", "Kuipers"), ("van", "Veen"), ("", "Post"),
    ("", "Kuiper"), ("", "Veenstra"), ("", "Kramer"), ("van den", "Brink"), ("", "Scholten"), ("van", "Wijk"),
    ("", "Postma"), ("", "Martens"), ("", "Vink"), ("de", "Ruiter"), ("", "Timmermans"), ("", "Groen"),
    ("", "Gerritsen"), ("", "Jonker"), ("van", "Loon"), ("", "Boer"), ("van der", "Velde"), ("", "Willemsen"),
    ("", "Smeets"), ("de", "Lange"), ("de", "Vos"), ("", "Bosch"), ("van", "Dongen"), ("", "Schipper"),
    ("de", "Koning"), ("van der", "Laan"), ("", "Koning"), ("van der", "Velden"), ("", "Driessen"),
    ("van", "Doorn"), ("", "Hermans"), ("", "Evers"), ("van den", "Bosch"), ("van der", "Meulen"), ("", "Hofman"),
    ("", "Bosman"), ("", "Wolters"), ("", "Sanders"), ("van der", "Horst"), ("", "Mol"), ("", "Kuijpers"),
    ("", "Molenaar"), ("van de", "Pol"), ("de", "Leeuw"), ("", "Verbeek"), ("", "Brinkman"), ("", "Zwart"),
    ("", "Wouters"), ("van", "Rijn"), ("", "Hoogendoorn"), ("", "Dijkman"), ("ter", "Horst"), ("", "Kroon"),
    ("", "Hoogland"), ("van", "Wijngaarden"), ("van 't", "Hof"), ("in 't", "Veld"), ("", "Yılmaz"), ("", "Öztürk"),
    ("", "El Amrani"), ("", "Bouzid"), ("", "Nguyen"), ("", "Tjon"), ("", "Pinas"), ("", "Zijlstra"),
    ("", "Wijnberg"), ("van", "Hout"), ("", "Sluiter"), ("", "Haverkamp"), ("", "Lammers"), ("", "Nijhuis"),
    ("", "Hulshof"), ("", "Oosterhuis"),
)

# (city, lowest postcode number, highest postcode number, area code)
CITIES = (
    ("Amsterdam", 1011, 1109, "020"), ("Rotterdam", 3011, 3089, "010"), ("Den Haag", 2491, 2597, "070"),
    ("Utrecht", 3511, 3585, "030"), ("Eindhoven", 5611, 5658, "040"), ("Groningen", 9711, 9747, "050"),
    ("Tilburg", 5011, 5049, "013"), ("Almere", 1311, 1361, "036"), ("Breda", 4811, 4839, "076"),
    ("Nijmegen", 6511, 6546, "024"), ("Apeldoorn", 7311, 7339, "055"), ("Haarlem", 2011, 2037, "023"),
    ("Arnhem", 6811, 6846, "026"), ("Enschede", 7511, 7548, "053"), ("Amersfoort", 3811, 3830, "033"),
    ("Zwolle", 8011, 8046, "038"), ("Zaandam", 1501, 1509, "075"), ("Leiden", 2311, 2334, "071"),
    ("Maastricht", 6211, 6229, "043"), ("Dordrecht", 3311, 3329, "078"), ("Ede", 6711, 6718, "0318"),
    ("Leeuwarden", 8911, 8939, "058"), ("Alkmaar", 1811, 1829, "072"), ("Deventer", 7411, 7429, "0570"),
    ("Delft", 2611, 2629, "015"), ("Venlo", 5911, 5928, "077"), ("Helmond", 5701, 5709, "0492"),
    ("Hengelo", 7551, 7559, "074"), ("'s-Hertogenbosch", 5211, 5237, "073"), ("Hoorn", 1621, 1628, "0229"),
    ("Gouda", 2801, 2809, "0182"), ("Assen", 9401, 9409, "0592"), ("Emmen", 7811, 7829, "0591"),
    ("Heerenveen", 8441, 8448, "0513"), ("Middelburg", 4331, 4339, "0118"), ("Goes", 4461, 4465, "0113"),
    ("Roermond", 6041, 6045, "0475"), ("Sittard", 6131, 6137, "046"), ("Harderwijk", 3841, 3849, "0341"),
    ("Veenendaal", 3901, 3907, "0318"), ("Zeist", 3701, 3709, "030"), ("Hilversum", 1211, 1223, "035"),
    ("Purmerend", 1441, 1448, "0299"), ("Den Helder", 1781, 1789, "0223"), ("Oss", 5341, 5351, "0412"),
    ("Doetinchem", 7001, 7009, "0314"), ("Zutphen", 7201, 7207, "0575"), ("Kampen", 8261, 8266, "038"),
    ("Sneek", 8601, 8608, "0515"), ("Drachten", 9201, 9207, "0512"), ("Meppel", 7941, 7944, "0522"),
    ("Wageningen", 6701, 6709, "0317"), ("Tiel", 4001, 4007, "0344"), ("Gorinchem", 4201, 4207, "0183"),
    ("Schiedam", 3111, 3125, "010"), ("Vlaardingen", 3131, 3138, "010"), ("Spijkenisse", 3201, 3209, "0181"),
    ("Katwijk", 2221, 2225, "071"), ("Lelystad", 8211, 8245, "0320"), ("Heerlen", 6411, 6422, "045"),
    ("Bergen op Zoom", 4611, 4625, "0164"), ("Roosendaal", 4701, 4709, "0165"), ("Oosterhout", 4901, 4909, "0162"),
    ("Waalwijk", 5141, 5146, "0416"), ("Uden", 5401, 5406, "0413"), ("Weert", 6001, 6006, "0495"),
    ("Winterswijk", 7101, 7107, "0543"), ("Steenwijk", 8331, 8334, "0521"), ("Barneveld", 3771, 3774, "0342"),
)

STREETS = (
    "Hoofdstraat", "Kerkstraat", "Dorpsstraat", "Stationsweg", "Industrieweg", "Molenweg", "Schoolstraat",
    "Nieuwstraat", "Marktplein", "Havenweg", "Ambachtsweg", "Handelsweg", "Parallelweg", "Julianastraat",
    "Beatrixlaan", "Wilhelminastraat", "Oranjestraat", "Prins Bernhardlaan", "Koningin Julianaweg", "Dorpsweg",
    "Burgemeester de Withstraat", "Kastanjelaan", "Eikenlaan", "Beukenlaan", "Lindelaan", "Rijksstraatweg",
    "Zuiderweg", "Noorderhaven", "Westersingel", "Oostvest", "Spoorstraat", "Vaartweg", "Dijkweg", "Polderweg",
    "Energieweg", "Nijverheidsweg", "Edisonstraat", "Newtonweg", "Kanaalweg", "Sluisweg", "Veerweg", "Brugstraat",
    "Torenstraat", "Achterweg", "Bredeweg", "Langestraat", "Korte Kerkstraat", "Van Goghlaan", "Rembrandtplein",
    "Vondelstraat", "Marconistraat", "Celsiusweg", "Zonnebloemstraat", "Tulpstraat", "Rozenlaan",
    "Ds. Kuyperstraat", "Hobbemastraat", "Mercuriusweg", "Transportweg", "Plesmanweg", "Europaweg", "Zeestraat",
    "Jachthavenweg", "Kon. Wilhelminaplein", "Markt",
)

# (activity word, SBI code, SBI description, probability the firm employs staff)
ACTIVITIES = (
    ("Installatietechniek", "4322", "Loodgieters- en fitterswerk; installatie van verwarming en luchtbehandeling", 0.7),
    ("Elektrotechniek", "4321", "Elektrotechnische bouwinstallatie", 0.6),
    ("Bouwbedrijf", "4120", "Algemene burgerlijke en utiliteitsbouw", 0.7),
    ("Schildersbedrijf", "4334", "Schilderen en glaszetten", 0.5),
    ("Transport", "4941", "Goederenvervoer over de weg", 0.8),
    ("Hoveniersbedrijf", "8130", "Landschapsverzorging", 0.4),
    ("Bakkerij", "1071", "Vervaardiging van brood en vers banketbakkerswerk", 0.7),
    ("Slagerij", "4722", "Winkels in vlees en vleeswaren", 0.5),
    ("Kapsalon", "9602", "Kappers en schoonheidsverzorging", 0.3),
    ("Autobedrijf", "4520", "Onderhoud en reparatie van auto's", 0.6),
    ("Fietsenwinkel", "4764", "Winkels in sportartikelen en fietsen", 0.4),
    ("Timmerbedrijf", "4332", "Bouwtimmeren", 0.4),
    ("Dakdekkersbedrijf", "4391", "Dakdekken en bouwen van dakconstructies", 0.5),
    ("Stukadoorsbedrijf", "4331", "Stukadoren", 0.3),
    ("Tegelzetbedrijf", "4333", "Afwerking van vloeren en wanden", 0.2),
    ("ICT", "6201", "Ontwikkelen, produceren en uitgeven van software", 0.5),
    ("Webdesign", "6201", "Ontwikkelen, produceren en uitgeven van software", 0.2),
    ("Advies", "7022", "Advisering op het gebied van management en bedrijfsvoering", 0.2),
    ("Consultancy", "7022", "Advisering op het gebied van management en bedrijfsvoering", 0.3),
    ("Fysiotherapie", "8691", "Fysiotherapie", 0.5), ("Tandartspraktijk", "8623", "Tandartspraktijken", 0.8),
    ("Dierenkliniek", "7500", "Veterinaire dienstverlening", 0.7),
    ("Makelaardij", "6831", "Bemiddeling bij handel, huur en verhuur van onroerend goed", 0.5),
    ("Schoonmaakbedrijf", "8121", "Algemene reiniging van gebouwen", 0.8),
    ("Catering", "5621", "Eventcatering", 0.6), ("Restaurant", "5610", "Restaurants", 0.8),
    ("Eetcafé", "5630", "Cafés", 0.7), ("Groothandel", "4690", "Niet-gespecialiseerde groothandel", 0.6),
    ("Metaalbewerking", "2562", "Algemene metaalbewerking", 0.8),
    ("Machinebouw", "2829", "Vervaardiging van overige machines voor algemeen gebruik", 0.8),
    ("Rijschool", "8553", "Autorijscholen", 0.3), ("Kinderopvang", "8891", "Kinderopvang", 0.9),
    ("Fotografie", "7420", "Fotografie", 0.1), ("Drukkerij", "1812", "Drukkerijen", 0.6),
    ("Reclamebureau", "7311", "Reclamebureaus", 0.5), ("Vertaalbureau", "7430", "Vertaling en tolken", 0.2),
    ("Architectenbureau", "7111", "Architecten", 0.5),
    ("Ingenieursbureau", "7112", "Ingenieurs en overig technisch ontwerp en advies", 0.6),
    ("Kwekerij", "0130", "Teelt van plantmateriaal", 0.6), ("Melkveebedrijf", "0141", "Melkveehouderij", 0.2),
    ("Loonbedrijf", "0161", "Dienstverlening voor de akkerbouw", 0.6),
    ("Bloemenwinkel", "4776", "Winkels in bloemen, planten, zaden en kunstmest", 0.3),
    ("Klusbedrijf", "4339", "Overige afwerking van gebouwen", 0.1),
    ("Verhuur", "7732", "Verhuur van machines en werktuigen voor de bouw", 0.3),
)

HOLDING_SBI = ("6420", "Financiële holdings")
FOUNDATION_SBI = ("9499", "Overige ideële organisaties")
PERSON_SBI = (None, None)

# Words for made-up trade names ("Noordzee Transport B.V.").
FANTASY_WORDS = (
    "Noordzee", "Delta", "Polder", "IJssel", "Eem", "Maas", "Rijn", "Vecht", "Waal", "Linge", "Dommel", "Kempen",
    "Veluwe", "Twente", "Achterhoek", "Kennemer", "Westland", "Holland", "Oranje", "Tulp", "Molen", "Dijk", "Duin",
    "Zeeland", "Horizon", "Zuiderzee", "Wadden", "Randstad", "Brabant", "Friesland", "Drenthe", "Eiland", "Kompas",
    "Vuurtoren", "Windkracht", "Zonnestraal", "Gouden Leeuw", "Hollandia", "Neerlandia", "Lindeboom", "Eikenhof",
    "De Hoeve", "De Schakel", "De Brug", "De Toren", "De Ster", "Het Anker", "Het Gilde", "Nova", "Prima", "Optima",
)

# Purposes for foundations ("Stichting Muziekschool Zwolle").
FOUNDATION_PURPOSES = (
    "Muziekschool", "Dorpshuis", "Sportpark", "Vrienden van het Museum", "Kinderopvang", "Buurthuis",
    "Openbare Bibliotheek", "Voedselbank", "Zorgboerderij", "Theater", "Jeugdwerk", "Historische Kring",
    "Speeltuin", "Zwembad", "Welzijn Ouderen", "Natuurbehoud", "Kunstuitleen", "Hospice", "Volksuniversiteit",
    "Schoolvereniging",
)

COOPERATIVE_WORDS = (
    "Zuivel", "Energie", "Fruitteelt", "Aardappelen", "Bloemen", "Inkoop", "Windpark", "Graan",
)

JOB_TITLES = (
    "Directeur", "Eigenaar", "Office manager", "Financieel medewerker", "Boekhouder", "Bedrijfsleider",
    "Directeur-grootaandeelhouder", "Administratief medewerker", "Controller", "Penningmeester", "Vennoot",
)

OFFICE_NAMES = (
    "Administratiekantoor De Boekhouder B.V.", "Administratiekantoor Van der Meer & Partners B.V.",
    "Boekhoudkantoor Het Grootboek B.V.", "Administratie- en Belastingadvieskantoor Veluwe B.V.",
    "Accountants- en Administratiekantoor De Balans B.V.",
)

# (bank code, BIC)
BANKS = (
    ("ABNA", "ABNANL2A"), ("INGB", "INGBNL2A"), ("RABO", "RABONL2U"), ("SNSB", "SNSBNL2A"), ("TRIO", "TRIONL2U"),
    ("KNAB", "KNABNL2H"), ("BUNQ", "BUNQNL2A"),
)
BANK_WEIGHTS = (
    24, 26, 30, 6, 4, 5, 5,
)

# Bank-statement lines an office could not book without asking the client: (description, counterparty).
VRAAGPOST_TEXTS = (
    ("Betaling Bol.com, factuur ontbreekt", "Bol.com"), ("Ontvangst zonder omschrijving", "Onbekend"),
    ("Pinbetaling Albert Heijn: zakelijk of privé?", "Albert Heijn"),
    ("iDEAL betaling Coolblue, factuur ontbreekt", "Coolblue"), ("Overboeking naar eigen rekening?", None),
    ("Contante opname geldautomaat", None), ("Incasso KPN: zakelijk of privé?", "KPN"),
    ("Tankpas Shell, bon ontbreekt", "Shell"), ("Betaling Marktplaats", "Marktplaats"),
    ("Ontvangst Belastingdienst, onbekende aanslag", "Belastingdienst"), ("Storting contant geld", None),
    ("Betaling aan particulier, omschrijving onduidelijk", None),
    ("Creditcard afschrijving, specificatie ontbreekt", "ICS"), ("Ontvangst debiteur onbekend", "Onbekend"),
    ("Betaling Amazon EU, factuur ontbreekt", "Amazon EU"), ("Lidmaatschap sportschool: zakelijk?", "Basic-Fit"),
)

CLEARING_TEXTS = (
    "Afboeking vraagpost: privé-opname", "Afboeking vraagpost: kantoorkosten",
    "Afboeking vraagpost: inkoopfactuur ontvangen", "Afboeking vraagpost: betaling debiteur",
    "Afboeking vraagpost: autokosten", "Afboeking vraagpost: representatiekosten",
)

MONTHS_NL = (
    "Januari", "Februari", "Maart", "April", "Mei", "Juni", "Juli", "Augustus", "September", "Oktober", "November",
    "December",
)
# fmt: on
