// Koppel's "Business Central" ribbon button (SPEC F4) on the account, contact and product forms.
// It posts the row to the Koppel app's POST /api/crm/sync with the user's language, shows the answer
// in the form's notification area and opens the Business Central record.
//
// The app URL and the function key come from two Dataverse environment variables of this solution
// (koppel_AppUrl, koppel_RibbonKey). The key is the crm_sync function's own key (Azure portal:
// Functions > crm_sync > Function Keys): it can call that function and nothing else.
/* eslint-disable no-var */
var Koppel = Koppel || {};
Koppel.Ribbon = (function () {
  "use strict";

  var NOTIFICATION_ID = "koppel-ribbon";
  // Dataverse LCIDs of the languages Koppel answers in (X7); anything else gets English.
  var LANGUAGES = { 1033: "en", 1043: "nl", 2067: "nl", 1030: "da" };
  var TEXTS = {
    en: { working: "Synchronizing with Business Central…", synchronized: "Synchronized with Business Central.",
          unchanged: "Already up to date in Business Central.", created: "Created in Business Central and coupled.",
          notSetUp: "Koppel is not set up: the environment variables koppel_AppUrl and koppel_RibbonKey are empty.",
          unreachable: "Business Central could not be reached through Koppel. Try again in a moment." },
    nl: { working: "Synchroniseren met Business Central…", synchronized: "Gesynchroniseerd met Business Central.",
          unchanged: "Al bijgewerkt in Business Central.", created: "Aangemaakt in Business Central en gekoppeld.",
          notSetUp: "Koppel is niet ingesteld: de omgevingsvariabelen koppel_AppUrl en koppel_RibbonKey zijn leeg.",
          unreachable: "Business Central is via Koppel niet bereikbaar. Probeer het zo opnieuw." },
    da: { working: "Synkroniserer med Business Central…", synchronized: "Synkroniseret med Business Central.",
          unchanged: "Allerede opdateret i Business Central.", created: "Oprettet i Business Central og koblet.",
          notSetUp: "Koppel er ikke konfigureret: miljøvariablerne koppel_AppUrl og koppel_RibbonKey er tomme.",
          unreachable: "Business Central kunne ikke nås via Koppel. Prøv igen om lidt." },
  };

  function language() {
    var lcid = Xrm.Utility.getGlobalContext().userSettings.languageId;
    return LANGUAGES[lcid] || "en";
  }

  function settings() {
    var query = "?$select=schemaname,defaultvalue&$filter=schemaname eq 'koppel_AppUrl' or schemaname eq 'koppel_RibbonKey'" +
      "&$expand=environmentvariabledefinition_environmentvariablevalue($select=value)";
    return Xrm.WebApi.retrieveMultipleRecords("environmentvariabledefinition", query).then(function (result) {
      var found = {};
      (result.entities || []).forEach(function (row) {
        var values = row.environmentvariabledefinition_environmentvariablevalue || [];
        found[row.schemaname] = (values.length && values[0].value) || row.defaultvalue || "";
      });
      return { url: (found.koppel_AppUrl || "").replace(/\/+$/, ""), key: found.koppel_RibbonKey || "" };
    });
  }

  function show(form, message, level) {
    form.ui.clearFormNotification(NOTIFICATION_ID);
    form.ui.setFormNotification(message, level, NOTIFICATION_ID);
  }

  // The ribbon command passes the form (Crm Parameter PrimaryControl). Resolves when the answer is shown.
  function syncToBusinessCentral(form) {
    var lang = language();
    var texts = TEXTS[lang];
    var entity = form.data.entity.getEntityName();
    var crmId = form.data.entity.getId().replace(/[{}]/g, "").toLowerCase();
    show(form, texts.working, "INFO");
    return settings().then(function (config) {
      if (!config.url || !config.key) {
        show(form, texts.notSetUp, "ERROR");
        return null;
      }
      return fetch(config.url + "/api/crm/sync", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept-Language": lang, "x-functions-key": config.key },
        body: JSON.stringify({ entity: entity, crmId: crmId }),
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok) {
            show(form, texts[body.action] || texts.synchronized, "INFO");
            Xrm.Navigation.openUrl(body.erpUrl);
            return body;
          }
          // A problem (RFC 9457): Koppel already words `detail` for a salesperson, in their language.
          show(form, body.detail || body.title || texts.unreachable, response.status === 409 ? "WARNING" : "ERROR");
          return null;
        });
      });
    }).catch(function () {
      show(form, texts.unreachable, "ERROR");
      return null;
    });
  }

  return { syncToBusinessCentral: syncToBusinessCentral, TEXTS: TEXTS };
}());

if (typeof module !== "undefined") {
  module.exports = Koppel;
}
