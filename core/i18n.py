"""User-facing texts in English, Dutch and Danish (X7), chosen by Accept-Language."""
from __future__ import annotations

import re

__all__ = ["choose_language", "text", "detail", "LANGUAGES"]

LANGUAGES = ("en", "nl", "da")

_TEXTS: dict[str, dict[str, str]] = {
    "title.invalid-input": {"en": "The request is not valid", "nl": "De aanvraag is niet geldig",
                            "da": "Anmodningen er ikke gyldig"},
    "title.not-found": {"en": "Not found", "nl": "Niet gevonden", "da": "Ikke fundet"},
    "title.conflict": {"en": "This cannot be done now", "nl": "Dit kan nu niet", "da": "Dette kan ikke gøres nu"},
    "title.not-configured": {"en": "Koppel is not fully configured", "nl": "Koppel is niet volledig ingesteld",
                             "da": "Koppel er ikke fuldt konfigureret"},
    "title.stale-write": {"en": "The record was changed meanwhile", "nl": "Het record is intussen gewijzigd",
                          "da": "Posten er ændret i mellemtiden"},
    "title.remote-auth": {"en": "Sign-in to the other system failed", "nl": "Aanmelden bij het andere systeem is mislukt",
                          "da": "Log på det andet system mislykkedes"},
    "title.remote-unavailable": {"en": "The other system is busy or unavailable",
                                 "nl": "Het andere systeem is bezet of niet beschikbaar",
                                 "da": "Det andet system er optaget eller utilgængeligt"},
    "title.remote-rejected": {"en": "The other system refused the change", "nl": "Het andere systeem weigerde de wijziging",
                              "da": "Det andet system afviste ændringen"},
    "title.record-failed": {"en": "The record could not be synchronized", "nl": "Het record kon niet worden gesynchroniseerd",
                            "da": "Posten kunne ikke synkroniseres"},
    "title.precondition-failed": {"en": "Changed since you read it", "nl": "Gewijzigd sinds u het las",
                                  "da": "Ændret siden du læste det"},
    "title.unsupported-media-type": {"en": "The body is not JSON in UTF-8", "nl": "De inhoud is geen JSON in UTF-8",
                                     "da": "Indholdet er ikke JSON i UTF-8"},
    "title.internal": {"en": "Something went wrong", "nl": "Er ging iets mis", "da": "Noget gik galt"},
    # The CRM ribbon (F4): words a salesperson understands.
    "ribbon.not-coupled-only-coupled": {
        "en": "This record is not linked to Business Central yet, and Koppel is set to synchronize only linked records. "
              "Ask your administrator to link it from Business Central.",
        "nl": "Dit record is nog niet gekoppeld aan Business Central en Koppel synchroniseert alleen gekoppelde records. "
              "Vraag uw beheerder om het vanuit Business Central te koppelen.",
        "da": "Denne post er endnu ikke koblet til Business Central, og Koppel synkroniserer kun koblede poster. "
              "Bed din administrator om at koble den fra Business Central.",
    },
    "ribbon.direction-to-crm-only": {
        "en": "Changes flow only from Business Central to Sales for this kind of record, so it cannot be created in "
              "Business Central from here.",
        "nl": "Wijzigingen gaan voor dit soort records alleen van Business Central naar Sales; het kan hier niet in "
              "Business Central worden aangemaakt.",
        "da": "Ændringer går kun fra Business Central til Sales for denne type post, så den kan ikke oprettes i "
              "Business Central herfra.",
    },
    "ribbon.no-mapping": {
        "en": "Koppel does not synchronize this kind of record with Business Central.",
        "nl": "Koppel synchroniseert dit soort records niet met Business Central.",
        "da": "Koppel synkroniserer ikke denne type post med Business Central.",
    },
    "ribbon.paused": {
        "en": "Synchronization for this kind of record is paused by your administrator. Try again later.",
        "nl": "De synchronisatie voor dit soort records is door uw beheerder gepauzeerd. Probeer het later opnieuw.",
        "da": "Synkroniseringen for denne type post er sat på pause af din administrator. Prøv igen senere.",
    },
}


# The admin console (X6): (en, nl, da) per key; the page and its script read them as `console.*`.
_CONSOLE: dict[str, tuple[str, str, str]] = {
    "title": ("Koppel administration", "Koppel-beheer", "Koppel-administration"),
    "mappings": ("Table mappings", "Tabeltoewijzingen", "Tabeltilknytninger"),
    "jobs": ("Synchronization jobs", "Synchronisatietaken", "Synkroniseringsjob"),
    "errors": ("Coupled data synchronization errors", "Synchronisatiefouten van gekoppelde gegevens",
               "Synkroniseringsfejl for koblede data"),
    "name": ("Name", "Naam", "Navn"),
    "direction": ("Direction", "Richting", "Retning"),
    "paused": ("Paused", "Gepauzeerd", "Sat på pause"),
    "schedule": ("Schedule", "Planning", "Tidsplan"),
    "last-run": ("Last run", "Laatste run", "Seneste kørsel"),
    "mapping": ("Mapping", "Toewijzing", "Tilknytning"),
    "type": ("Type", "Type", "Type"),
    "status": ("Status", "Status", "Status"),
    "started": ("Started", "Gestart", "Startet"),
    "counters": ("Counters", "Tellers", "Tællere"),
    "progress": ("Progress", "Voortgang", "Fremskridt"),
    "message": ("Message", "Bericht", "Meddelelse"),
    "erp-id": ("Business Central id", "Business Central-id", "Business Central-id"),
    "crm-id": ("Dataverse id", "Dataverse-id", "Dataverse-id"),
    "category": ("Category", "Categorie", "Kategori"),
    "suggested-action": ("Suggested action", "Voorgestelde actie", "Foreslået handling"),
    "erp-exists": ("In Business Central", "In Business Central", "I Business Central"),
    "crm-exists": ("In Dataverse", "In Dataverse", "I Dataverse"),
    "actions": ("Actions", "Acties", "Handlinger"),
    "sync-now": ("Sync now", "Nu synchroniseren", "Synkroniser nu"),
    "retry": ("Retry", "Opnieuw proberen", "Prøv igen"),
    "sync-to-crm": ("Sync to Dataverse", "Naar Dataverse synchroniseren", "Synkroniser til Dataverse"),
    "sync-from-crm": ("Sync from Dataverse", "Vanuit Dataverse synchroniseren", "Synkroniser fra Dataverse"),
    "restore": ("Restore", "Herstellen", "Gendan"),
    "delete-coupling": ("Delete coupling", "Koppeling verwijderen", "Slet kobling"),
    "refresh": ("Refresh", "Vernieuwen", "Opdater"),
    "yes": ("yes", "ja", "ja"),
    "no": ("no", "nee", "nej"),
    "unknown": ("unknown", "onbekend", "ukendt"),
    "never": ("never", "nooit", "aldrig"),
    "every-min": ("every {n} min", "elke {n} min", "hver {n}. min"),
    "none": ("Nothing to show.", "Niets om te tonen.", "Intet at vise."),
    "loading": ("Loading…", "Laden…", "Indlæser…"),
    "no-key": ("Open this page with ?code=<function key>.", "Open deze pagina met ?code=<functiesleutel>.",
               "Åbn denne side med ?code=<funktionsnøgle>."),
    "failed": ("The request failed", "De aanvraag is mislukt", "Anmodningen mislykkedes"),
    "done": ("Done", "Klaar", "Færdig"),
    "queued": ("Queued", "In de wachtrij", "Sat i kø"),
}
_TEXTS.update({f"console.{k}": dict(zip(LANGUAGES, v)) for k, v in _CONSOLE.items()})


# Problem details (X7): the English templates core's errors are built from, with {placeholders} for the facts
# (field names, values, ids), which stay as they are. A detail no template matches stays English.
_DETAILS: tuple[tuple[str, str, str], ...] = (
    ("{a} is required.", "{a} is verplicht.", "{a} er påkrævet."),
    ("{a} must be true or false.", "{a} moet true of false zijn.", "{a} skal være true eller false."),
    ("{a} must be a non-empty string.", "{a} moet een niet-lege tekst zijn.", "{a} skal være en ikke-tom tekst."),
    ("{a} must be a list.", "{a} moet een lijst zijn.", "{a} skal være en liste."),
    ("{a} must be a JSON object.", "{a} moet een JSON-object zijn.", "{a} skal være et JSON-objekt."),
    ("{a} must be one of: {b}.", "{a} moet een van deze zijn: {b}.", "{a} skal være en af: {b}."),
    ("{a} must be one of {b}.", "{a} moet een van deze zijn: {b}.", "{a} skal være en af: {b}."),
    ("{a} must be a whole number from {b} to {c}.", "{a} moet een geheel getal van {b} tot {c} zijn.",
     "{a} skal være et heltal fra {b} til {c}."),
    ("{a} must be a GUID such as {b}.", "{a} moet een GUID zijn, zoals {b}.", "{a} skal være et GUID, f.eks. {b}."),
    ("{a} must be a non-empty list of GUIDs.", "{a} moet een niet-lege lijst van GUID's zijn.",
     "{a} skal være en ikke-tom liste af GUID'er."),
    ("{a} may hold at most {b} ids.", "{a} mag hoogstens {b} id's bevatten.", "{a} må højst indeholde {b} id'er."),
    ("{a} {b} is not a valid name.", "{a} {b} is geen geldige naam.", "{a} {b} er ikke et gyldigt navn."),
    ("Unknown field {a}.", "Onbekend veld {a}.", "Ukendt felt {a}."),
    ("{a} has no field {b}.", "{a} heeft geen veld {b}.", "{a} har intet felt {b}."),
    ("{a} has no column {b}.", "{a} heeft geen kolom {b}.", "{a} har ingen kolonne {b}."),
    ("{a} is not a valid OData filter: {b}.", "{a} is geen geldig OData-filter: {b}.",
     "{a} er ikke et gyldigt OData-filter: {b}."),
    ("{a} holds a lone UTF-16 surrogate (\\uD800-\\uDFFF without its pair), which is not text.",
     "{a} bevat een losse UTF-16-surrogaat (\\uD800-\\uDFFF zonder zijn paar); dat is geen tekst.",
     "{a} indeholder et enligt UTF-16-surrogat (\\uD800-\\uDFFF uden sin partner), som ikke er tekst."),
    ("There is no mapping named {a} to depend on.", "Er is geen toewijzing {a} om van af te hangen.",
     "Der er ingen tilknytning ved navn {a} at afhænge af."),
    ("There is no mapping named {a} to look up through.", "Er is geen toewijzing {a} om via op te zoeken.",
     "Der er ingen tilknytning ved navn {a} at slå op igennem."),
    ("There is no mapping named {a}.", "Er is geen toewijzing met de naam {a}.",
     "Der er ingen tilknytning ved navn {a}."),
    ("There is no job {a}.", "Er is geen taak {a}.", "Der er intet job {a}."),
    ("Dataverse has no {a} row {b}.", "Dataverse heeft geen {a}-rij {b}.", "Dataverse har ingen {a}-række {b}."),
    ("Business Central has no {a} record {b}.", "Business Central heeft geen {a}-record {b}.",
     "Business Central har ingen {a}-post {b}."),
    ("ERP record {a} is not coupled in mapping {b}.", "ERP-record {a} is niet gekoppeld in toewijzing {b}.",
     "ERP-post {a} er ikke koblet i tilknytning {b}."),
    ("Record {a} is not coupled in mapping {b}; set up a coupling first.",
     "Record {a} is niet gekoppeld in toewijzing {b}; maak eerst een koppeling.",
     "Post {a} er ikke koblet i tilknytning {b}; opret først en kobling."),
    ("Mapping {a} is paused.", "Toewijzing {a} is gepauzeerd.", "Tilknytning {a} er sat på pause."),
    ("Mapping {a} is paused; resume it and synchronize again.",
     "Toewijzing {a} is gepauzeerd; hervat haar en synchroniseer opnieuw.",
     "Tilknytning {a} er sat på pause; genoptag den og synkroniser igen."),
    ("Mapping {a} does not synchronize {b}.", "Toewijzing {a} synchroniseert niet {b}.",
     "Tilknytning {a} synkroniserer ikke {b}."),
    ("Mapping {a} is used by {b}; change those first or use force=true.",
     "Toewijzing {a} wordt gebruikt door {b}; wijzig die eerst of gebruik force=true.",
     "Tilknytning {a} bruges af {b}; ret dem først, eller brug force=true."),
    ("Mapping {a} still has couplings; delete them first or use force=true.",
     "Toewijzing {a} heeft nog koppelingen; verwijder die eerst of gebruik force=true.",
     "Tilknytning {a} har stadig koblinger; slet dem først, eller brug force=true."),
    ("Mapping {a} changed since the version in If-Match; read it again.",
     "Toewijzing {a} is gewijzigd sinds de versie in If-Match; lees haar opnieuw.",
     "Tilknytning {a} er ændret siden versionen i If-Match; læs den igen."),
    ("The mapping {a} already exists.", "De toewijzing {a} bestaat al.", "Tilknytningen {a} findes allerede."),
    ("The setting {a} is not configured.", "De instelling {a} is niet ingesteld.",
     "Indstillingen {a} er ikke konfigureret."),
    ("The request body must be valid JSON.", "De inhoud van de aanvraag moet geldige JSON zijn.",
     "Anmodningens indhold skal være gyldig JSON."),
    ("The request body is nested too deeply.", "De inhoud van de aanvraag is te diep genest.",
     "Anmodningens indhold er indlejret for dybt."),
    ("The body must be application/json, not {a}.", "De inhoud moet application/json zijn, niet {a}.",
     "Indholdet skal være application/json, ikke {a}."),
    ("The continuation token is not one this service issued.",
     "Het vervolgtoken is niet door deze service uitgegeven.",
     "Fortsættelsestokenet er ikke udstedt af denne tjeneste."),
    ("Something went wrong inside Koppel; the error is logged.", "Er ging iets mis in Koppel; de fout is gelogd.",
     "Noget gik galt i Koppel; fejlen er logget."),
)
_PLACEHOLDER = re.compile(r"\{([a-z])\}")


def _pattern(template: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, …
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)) + r"\Z",
                      re.DOTALL)


_DETAIL_PATTERNS = tuple((_pattern(en), {"nl": nl, "da": da}) for en, nl, da in _DETAILS)


def detail(message: str, lang: str) -> str:
    """A problem's detail in `lang` when it was built from a known template; otherwise as it was (English)."""
    if lang == "en":
        return message
    for pattern, texts in _DETAIL_PATTERNS:
        m = pattern.match(message)
        if m:
            return texts[lang].format(**m.groupdict())
    return message


def choose_language(accept_language: str | None) -> str:
    """The best of en/nl/da for an Accept-Language header (q-values honoured), English by default."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


def text(key: str, lang: str) -> str:
    entry = _TEXTS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["en"]
