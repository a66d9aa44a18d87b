// The Koppel app's URL. The function key is not a field: it lives in IsolatedStorage (company scope),
// so it never shows in a table, an export or a configuration package.
table 50100 "Koppel Setup"
{
    Caption = 'Koppel Setup';
    DataClassification = CustomerContent;

    fields
    {
        field(1; "Primary Key"; Code[10]) { Caption = 'Primary Key'; }
        field(2; "App URL"; Text[250])
        {
            Caption = 'App URL';
            ExtendedDatatype = URL;

            trigger OnValidate()
            begin
                "App URL" := CopyStr("App URL".TrimEnd('/'), 1, MaxStrLen("App URL"));
                if not "App URL".StartsWith('https://') then
                    Error(MustBeHttpsErr);
            end;
        }
    }

    keys
    {
        key(PK; "Primary Key") { Clustered = true; }
    }

    var
        MustBeHttpsErr: Label 'The app URL must start with https://, e.g. https://koppel-abc123.azurewebsites.net';
        KeyName: Label 'KoppelFunctionKey', Locked = true;

    procedure GetSetup()
    begin
        if not Get() then begin
            Init();
            Insert();
        end;
    end;

    procedure SetFunctionKey(FunctionKey: SecretText)
    begin
        if IsolatedStorage.Contains(KeyName, DataScope::Company) then
            IsolatedStorage.Delete(KeyName, DataScope::Company);
        if not FunctionKey.IsEmpty() then
            IsolatedStorage.Set(KeyName, FunctionKey, DataScope::Company);
    end;

    procedure GetFunctionKey(var FunctionKey: SecretText): Boolean
    begin
        exit(IsolatedStorage.Get(KeyName, DataScope::Company, FunctionKey));
    end;

    procedure HasFunctionKey(): Boolean
    begin
        exit(IsolatedStorage.Contains(KeyName, DataScope::Company));
    end;
}
