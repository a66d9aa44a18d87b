// Asks how to couple: with an existing Dataverse row (its id), or by creating a new one; and whether
// to synchronize right after.
page 50101 "Koppel Couple Dialog"
{
    Caption = 'Set up coupling';
    PageType = StandardDialog;

    layout
    {
        area(Content)
        {
            field(CreateNew; CreateNew)
            {
                ApplicationArea = All;
                Caption = 'Create new in Dataverse';
                ToolTip = 'Create the Dataverse row from this record and couple the two.';
            }
            field(CrmId; CrmId)
            {
                ApplicationArea = All;
                Caption = 'Dataverse row id';
                Editable = not CreateNew;
                ToolTip = 'The id (GUID) of the Dataverse row to couple with, from its URL in Dynamics 365 (id=...).';
            }
            field(SyncAfter; SyncAfter)
            {
                ApplicationArea = All;
                Caption = 'Synchronize after coupling';
                OptionCaption = 'No,To Dataverse,From Dataverse';
                ToolTip = 'Copy this record to Dataverse, or the Dataverse row to this record, right after coupling.';
            }
        }
    }

    var
        CreateNew: Boolean;
        CrmId: Guid;
        SyncAfter: Option "No","To Dataverse","From Dataverse";

    procedure Run(Mapping: Text; ErpId: Guid)
    var
        Koppel: Codeunit "Koppel Client";
        Sync: Text;
    begin
        if RunModal() <> Action::OK then
            exit;
        case SyncAfter of
            SyncAfter::"To Dataverse":
                Sync := 'toCrm';
            SyncAfter::"From Dataverse":
                Sync := 'fromCrm';
            else
                Sync := 'none';
        end;
        Koppel.SetUpCoupling(Mapping, ErpId, CrmId, CreateNew, Sync);
    end;
}
