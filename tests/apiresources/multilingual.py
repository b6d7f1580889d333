"""Short product texts in each language the keywords tool supports, shared by its logic and HTTP tests."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    language: str
    text: str
    stop_words: tuple[str, ...]  # the language's typical stop words, all in the text, none of which may come back
    content_words: tuple[str, ...]  # words that must come back as keywords


SAMPLES = [
    Sample(
        "en",
        "Our lightweight running shoes are made for runners who want comfort on every mile. The breathable mesh keeps "
        "your feet cool and the cushioned sole protects your joints.",
        ("the", "and", "for", "our", "your", "are"),
        ("lightweight", "running", "shoes", "runners", "comfort", "breathable", "mesh", "sole"),
    ),
    Sample(
        "es",
        "Las mejores zapatillas de running para los corredores que buscan comodidad. La malla transpirable mantiene "
        "los pies frescos y la suela amortiguada protege las articulaciones.",
        ("los", "las", "para", "de", "que", "la"),
        ("zapatillas", "corredores", "comodidad", "malla", "transpirable", "suela", "articulaciones"),
    ),
    Sample(
        "de",
        "Die besten Laufschuhe für Läufer: Unsere Laufschuhe sind leicht und atmungsaktiv. Die gedämpfte Sohle "
        "schützt die Gelenke, und der Läufer bleibt auch nach vielen Kilometern entspannt.",
        ("die", "für", "und", "der", "sind", "auch"),
        ("laufschuhe", "läufer", "leicht", "atmungsaktiv", "sohle", "gelenke", "kilometern"),
    ),
    Sample(
        "ja",
        "東京で人気のラーメン店。濃厚な豚骨スープと自家製の細麺が自慢です。ラーメンの持ち帰りもできます。",
        ("の", "で", "と", "が", "です", "ます", "も"),
        ("東京", "ラーメン", "人気", "濃厚", "豚骨", "スープ", "細麺"),
    ),
    Sample(
        "fr",
        "Les meilleures chaussures de course pour les coureurs exigeants. La semelle amortie protège les articulations "
        "et le mesh respirant garde les pieds au frais pendant des heures.",
        ("les", "pour", "des", "de", "la", "le", "et", "au"),
        ("chaussures", "course", "coureurs", "semelle", "articulations", "respirant", "pieds"),
    ),
    Sample(
        "pt",
        "Os melhores tênis de corrida para os corredores que procuram conforto. A malha respirável mantém os pés "
        "frescos e a sola amortecida protege as articulações.",
        ("os", "para", "de", "que", "as"),
        ("tênis", "corrida", "corredores", "conforto", "malha", "respirável", "sola", "articulações"),
    ),
    Sample(
        "ru",
        "Лучшие кроссовки для бега для тех, кто ценит комфорт. Дышащая сетка сохраняет ноги прохладными, а "
        "амортизирующая подошва защищает суставы бегуна.",
        ("для", "тех", "кто", "а"),
        ("кроссовки", "бега", "комфорт", "сетка", "подошва", "суставы"),
    ),
    Sample(
        "it",
        "Le migliori scarpe da corsa per i corridori che cercano comodità. La tomaia traspirante mantiene i piedi "
        "freschi e la suola ammortizzata protegge le articolazioni.",
        ("le", "per", "da", "che", "la"),
        ("scarpe", "corsa", "corridori", "comodità", "tomaia", "traspirante", "piedi", "suola"),
    ),
    Sample(
        "zh",
        "我们的新款跑步鞋轻便透气，适合长跑和日常训练。跑步鞋的鞋底柔软，保护您的关节。",
        ("的", "和", "您", "我们"),
        ("跑步", "新款", "轻便", "透气", "长跑", "训练", "鞋底", "关节"),
    ),
    Sample(
        "nl",
        "De beste hardloopschoenen voor lopers die comfort zoeken. Het ademende gaas houdt je voeten koel en de "
        "gedempte zool beschermt de gewrichten van elke loper.",
        ("de", "voor", "die", "het", "je", "en", "van"),
        ("hardloopschoenen", "lopers", "comfort", "ademende", "voeten", "zool", "gewrichten"),
    ),
    Sample(
        "pl",
        "Najlepsze buty do biegania dla biegaczy, którzy cenią wygodę. Oddychająca siateczka chłodzi stopy, a "
        "amortyzowana podeszwa chroni stawy biegacza.",
        ("do", "dla", "którzy", "a"),
        ("buty", "biegania", "biegaczy", "wygodę", "siateczka", "stopy", "podeszwa", "stawy"),
    ),
    Sample(
        "tr",
        "Konfor arayan koşucular için en iyi koşu ayakkabıları. Nefes alan file ayaklarınızı serin tutar ve yastıklı "
        "taban eklemlerinizi korur.",
        ("için", "en", "ve"),
        ("konfor", "koşucular", "koşu", "ayakkabıları", "ayaklarınızı", "taban", "eklemlerinizi"),
    ),
]

# The German example: before languages, its top five keywords were laufschuhe, läufer, die, besten, für.
GERMAN_RUNNING_SHOES = (
    "Die besten Laufschuhe für Läufer: Laufschuhe, mit denen jeder Läufer schneller wird. Unsere Laufschuhe dämpfen "
    "jeden Schritt, die Sohle hält lange. Laufschuhe für Läufer mit den besten Ansprüchen, die Läufer lieben."
)
