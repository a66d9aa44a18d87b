// Calls the Koppel app (SPEC §4). Every route below is a path of Koppel's /api/openapi.json, written
// exactly as the document names it ({mapping}, {erpId} are replaced by Path()); every body field is
// added by name with Body.Add. tests/unit/test_bc_extension.py checks both against the document.
codeunit 50100 "Koppel Client"
{
    var
        NotSetUpErr: Label 'Koppel is not set up. Open the Koppel Setup page and enter the app URL and function key.';
        FailedErr: Label 'Koppel answered %1: %2', Comment = '%1 = HTTP status, %2 = the reason Koppel gives';
        UnreachableErr: Label 'The Koppel app could not be reached at %1.', Comment = '%1 = app URL';
        CoupledMsg: Label 'Coupled with Dataverse row %1.', Comment = '%1 = Dataverse row id';
        SyncedMsg: Label 'Synchronized: %1.', Comment = '%1 = what happened (inserted, modified, unchanged, …)';
        QueuedMsg: Label 'Koppel synchronizes the %1 records in the background (job %2).', Comment = '%1 = count, %2 = job id';
        UncoupledMsg: Label 'The coupling was deleted. No record was deleted.';
        ConnectionMsg: Label 'Business Central: %1. Dataverse: %2.', Comment = '%1, %2 = OK or the problem';

    // Set up coupling: couple with an existing Dataverse row, or create one; optionally synchronize after.
    procedure SetUpCoupling(Mapping: Text; ErpId: Guid; CrmId: Guid; CreateNew: Boolean; SyncAfter: Text)
    var
        Body: JsonObject;
        Answer: JsonObject;
    begin
        Body.Add('mapping', Mapping);
        Body.Add('erpId', IdText(ErpId));
        if CreateNew then
            Body.Add('createNew', true)
        else
            Body.Add('crmId', IdText(CrmId));
        if SyncAfter <> '' then
            Body.Add('sync', SyncAfter);
        Answer := Send('POST', '/couplings', Body);
        Message(CoupledMsg, Member(Answer, 'crmId'));
    end;

    // Synchronize now: one record answers the outcome, several run as a background job (F3, F5).
    procedure SynchronizeNow(Mapping: Text; ErpIds: List of [Guid]; Direction: Text)
    var
        Body: JsonObject;
        Ids: JsonArray;
        Answer: JsonObject;
        ErpId: Guid;
    begin
        foreach ErpId in ErpIds do
            Ids.Add(IdText(ErpId));
        Body.Add('mapping', Mapping);
        Body.Add('erpIds', Ids);
        Body.Add('direction', Direction);
        Answer := Send('POST', '/sync', Body);
        if ErpIds.Count() = 1 then
            Message(SyncedMsg, Member(Answer, 'action'))
        else
            Message(QueuedMsg, ErpIds.Count(), Member(Answer, 'id'));
    end;

    // Delete coupling: uncouples only; neither record is deleted (F6).
    procedure DeleteCoupling(Mapping: Text; ErpId: Guid)
    var
        NoBody: JsonObject;
    begin
        Send('DELETE', Path('/couplings/{mapping}/{erpId}', Mapping, IdText(ErpId)), NoBody);
        Message(UncoupledMsg);
    end;

    // Whether a record is coupled, for the pages' "Coupled to Dataverse" indicator.
    procedure IsCoupled(Mapping: Text; ErpId: Guid): Boolean
    var
        NoBody: JsonObject;
        Answer: JsonObject;
    begin
        exit(TrySend('GET', Path('/couplings/{mapping}', Mapping, '') + '?erpId=' + IdText(ErpId), NoBody, Answer));
    end;

    procedure TestConnection()
    var
        NoBody: JsonObject;
        Answer: JsonObject;
    begin
        Answer := Send('GET', '/connection', NoBody);
        Message(ConnectionMsg, SideState(Answer, 'erp'), SideState(Answer, 'crm'));
    end;

    local procedure Send(Method: Text; Route: Text; Body: JsonObject) Answer: JsonObject
    begin
        if not TrySend(Method, Route, Body, Answer) then
            Error(GetLastErrorText());
    end;

    [TryFunction]
    local procedure TrySend(Method: Text; Route: Text; Body: JsonObject; var Answer: JsonObject)
    var
        Setup: Record "Koppel Setup";
        Client: HttpClient;
        Request: HttpRequestMessage;
        Response: HttpResponseMessage;
        Headers: HttpHeaders;
        ContentHeaders: HttpHeaders;
        FunctionKey: SecretText;
        BodyText: Text;
        AnswerText: Text;
    begin
        Setup.GetSetup();
        if (Setup."App URL" = '') or not Setup.GetFunctionKey(FunctionKey) then
            Error(NotSetUpErr);
        Request.Method := Method;
        Request.SetRequestUri(Setup."App URL" + '/api' + Route);
        Request.GetHeaders(Headers);
        Headers.Add('x-functions-key', FunctionKey);
        Headers.Add('Accept', 'application/json');
        // Koppel answers problems in English, Dutch or Danish (X7): the user's language, e.g. nl-NL.
        Headers.Add('Accept-Language', LanguageTag());
        if Method = 'POST' then begin
            Body.WriteTo(BodyText);
            Request.Content.WriteFrom(BodyText);
            Request.Content.GetHeaders(ContentHeaders);
            if ContentHeaders.Contains('Content-Type') then
                ContentHeaders.Remove('Content-Type');
            ContentHeaders.Add('Content-Type', 'application/json');
        end;
        if not Client.Send(Request, Response) then
            Error(UnreachableErr, Setup."App URL");
        Response.Content.ReadAs(AnswerText);
        if AnswerText <> '' then
            if not Answer.ReadFrom(AnswerText) then
                Clear(Answer);
        if not Response.IsSuccessStatusCode() then
            Error(FailedErr, Response.HttpStatusCode(), ProblemText(Answer, Response.ReasonPhrase()));
    end;

    local procedure Path(Template: Text; Mapping: Text; ErpId: Text): Text
    begin
        exit(Template.Replace('{mapping}', Mapping).Replace('{erpId}', ErpId));
    end;

    local procedure IdText(Id: Guid): Text
    begin
        exit(LowerCase(Format(Id, 0, 4)));
    end;

    local procedure LanguageTag(): Text
    begin
        case GlobalLanguage() of
            1043, 2067:
                exit('nl');
            1030:
                exit('da');
            else
                exit('en');
        end;
    end;

    local procedure Member(Answer: JsonObject; Name: Text): Text
    var
        Token: JsonToken;
    begin
        if Answer.Get(Name, Token) and Token.IsValue() then
            exit(Token.AsValue().AsText());
        exit('');
    end;

    local procedure ProblemText(Problem: JsonObject; Fallback: Text): Text
    begin
        if Member(Problem, 'detail') <> '' then
            exit(Member(Problem, 'detail'));
        if Member(Problem, 'title') <> '' then
            exit(Member(Problem, 'title'));
        exit(Fallback);
    end;

    local procedure SideState(Connection: JsonObject; Side: Text): Text
    var
        Token: JsonToken;
        State: JsonObject;
    begin
        if not Connection.Get(Side, Token) then
            exit('?');
        State := Token.AsObject();
        if Member(State, 'ok') = 'true' then
            exit('OK');
        exit(Member(State, 'error'));
    end;
}
