// Koppel's actions on the Customer List (mapping CUSTOMER): Set up coupling, Synchronize now, Delete coupling.
pageextension 50111 "Koppel Customer List" extends "Customer List"
{
    actions
    {
        addlast(Processing)
        {
            group(Koppel)
            {
                Caption = 'Dataverse (Koppel)';
                Image = CoupledContact;

                action(KoppelSetUpCoupling)
                {
                    ApplicationArea = All;
                    Caption = 'Set up coupling';
                    Image = LinkAccount;
                    ToolTip = 'Couple this record with a Dataverse row, or create one.';

                    trigger OnAction()
                    var
                        Dialog: Page "Koppel Couple Dialog";
                    begin
                        Dialog.Run(MappingTok, Rec.SystemId);
                    end;
                }
                action(KoppelSynchronizeNow)
                {
                    ApplicationArea = All;
                    Caption = 'Synchronize now';
                    Image = Refresh;
                    ToolTip = 'Synchronize with the coupled Dataverse row: the side that changed wins; both changed follows the conflict policy.';

                    trigger OnAction()
                    var
                        Selected: Record "Customer";
                        Ids: List of [Guid];
                    begin
                        // Every selected row: one answers the outcome, several run as a background job.
                        CurrPage.SetSelectionFilter(Selected);
                        if Selected.FindSet() then
                            repeat
                                Ids.Add(Selected.SystemId);
                            until Selected.Next() = 0;
                        Koppel.SynchronizeNow(MappingTok, Ids, 'auto');
                    end;
                }
                action(KoppelDeleteCoupling)
                {
                    ApplicationArea = All;
                    Caption = 'Delete coupling';
                    Image = UnLinkAccount;
                    ToolTip = 'Uncouple this record from its Dataverse row. Neither record is deleted.';

                    trigger OnAction()
                    begin
                        Koppel.DeleteCoupling(MappingTok, Rec.SystemId);
                    end;
                }
            }
        }
    }

    var
        Koppel: Codeunit "Koppel Client";
        MappingTok: Label 'CUSTOMER', Locked = true;
}
