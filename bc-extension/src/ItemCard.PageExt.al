// Koppel's actions on the Item Card (mapping ITEM-PRODUCT): Set up coupling, Synchronize now, Delete coupling.
pageextension 50116 "Koppel Item Card" extends "Item Card"
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
                        Ids: List of [Guid];
                    begin
                        Ids.Add(Rec.SystemId);
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
        MappingTok: Label 'ITEM-PRODUCT', Locked = true;
}
