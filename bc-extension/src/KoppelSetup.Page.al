// Where an administrator enters the Koppel app's URL and function key, and tests the connection.
page 50100 "Koppel Setup"
{
    Caption = 'Koppel Setup';
    PageType = Card;
    SourceTable = "Koppel Setup";
    ApplicationArea = All;
    UsageCategory = Administration;
    InsertAllowed = false;
    DeleteAllowed = false;

    layout
    {
        area(Content)
        {
            group(General)
            {
                Caption = 'Koppel app';
                field("App URL"; Rec."App URL") { ApplicationArea = All; ToolTip = 'The Function App URL, e.g. https://koppel-abc123.azurewebsites.net (the deployment output functionAppUrl).'; }
                field(FunctionKey; FunctionKeyText)
                {
                    ApplicationArea = All;
                    Caption = 'Function key';
                    ExtendedDatatype = Masked;
                    ToolTip = 'A function key of the Koppel app (Azure portal: the Function App, App keys). Kept in isolated storage, never in a table.';

                    trigger OnValidate()
                    begin
                        Rec.SetFunctionKey(FunctionKeyText);
                        FunctionKeyText := MaskTxt;
                    end;
                }
            }
        }
    }

    actions
    {
        area(Processing)
        {
            action(TestConnection)
            {
                ApplicationArea = All;
                Caption = 'Test connection';
                Image = Link;
                ToolTip = 'Asks the Koppel app whether it reaches Business Central and Dataverse.';

                trigger OnAction()
                var
                    Koppel: Codeunit "Koppel Client";
                begin
                    Koppel.TestConnection();
                end;
            }
        }
    }

    var
        FunctionKeyText: Text;
        MaskTxt: Label '••••••••', Locked = true;

    trigger OnOpenPage()
    begin
        Rec.GetSetup();
        if Rec.HasFunctionKey() then
            FunctionKeyText := MaskTxt;
    end;
}
