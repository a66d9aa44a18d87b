"""User-facing texts in English, Dutch and Danish (X7), chosen by Accept-Language."""
from __future__ import annotations

__all__ = ["choose_language", "text", "LANGUAGES"]

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
