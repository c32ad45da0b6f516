"""Property names and OData types of the entities the sandbox serves (from Exact's REST reference, exact-api.md §4).

Each entity lists its properties in Exact's order with a one-letter type code. A property the generator
puts in a record but which is missing here is still served (its type inferred from the value), so the
generator can add Exact fields without touching this module.
"""

from __future__ import annotations

from exactlink.sandbox import odata

_TYPE_CODES = {
    "G": odata.GUID,
    "S": odata.STRING,
    "I": odata.INT32,
    "L": odata.INT64,
    "B": odata.BOOLEAN,
    "T": odata.DATETIME,
    "D": odata.DOUBLE,
    "Y": odata.BYTE,
}


def _properties(spec: str) -> dict[str, str]:
    """``"ID:G Code:S"`` → ``{"ID": "Edm.Guid", "Code": "Edm.String"}`` (order kept)."""
    result: dict[str, str] = {}
    for item in spec.split():
        name, code = item.split(":")
        result[name] = _TYPE_CODES[code]
    return result


_AUDIT = "Created:T Creator:G CreatorFullName:S Modified:T Modifier:G ModifierFullName:S Division:I"

# The rest of Exact's public property lists, which the sandbox does not model: selecting one answers null, not a
# 400 (each 400 also counts toward Exact's 10-errors block; exact-evidence.md §8). Names from public clients'
# entity lists that quote Exact's REST reference: picqer/exact-php-client Account.php and Address.php (types
# from their docblocks: references to other entities as Edm.Guid, dates as Edm.DateTime) and
# leapforce-libraries/go_exactonline contact.go (typed). Only a name that is no property at all stays a 400.
_ACCOUNT_UNMODELLED = (
    "AccountManagerHID:I CanDropShip:B ConsolidationScenario:I ControlledDate:T CreditLinePurchase:D "
    "CreditLineSales:D DatevCreditorCode:S DatevDebtorCode:S DiscountPurchase:D DiscountSales:D "
    "GLAccountPurchase:G GLAccountSales:G GLAP:G GLAR:G HasWithholdingTaxSales:B IgnoreDatevWarningMessage:B "
    "IncotermAddressPurchase:S IncotermAddressSales:S IncotermCodePurchase:S IncotermCodeSales:S "
    "IncotermVersionPurchase:I IncotermVersionSales:I IntraStatArea:S IntraStatDeliveryTerm:S IntraStatSystem:S "
    "IntraStatTransactionA:S IntraStatTransactionB:S IntraStatTransportMethod:S InvoiceAttachmentType:I "
    "InvoicingMethod:I Latitude:D Logo:S LogoFileName:S LogoThumbnailUrl:S LogoUrl:S Longitude:D PayAsYouEarn:S "
    "PaymentConditionPurchase:S PaymentConditionPurchaseDescription:S PaymentConditionSales:S "
    "PaymentConditionSalesDescription:S PurchaseCurrency:S PurchaseCurrencyDescription:S PurchaseLeadDays:I "
    "PurchaseVATCode:S PurchaseVATCodeDescription:S RecepientOfCommissions:B SalesCurrency:S "
    "SalesCurrencyDescription:S SalesVATCode:S SalesVATCodeDescription:S SecurityLevel:I "
    "SeparateInvPerSubscription:I ShippingLeadDays:I ShippingMethod:G ShowRemarkForSales:B"
)
_ADDRESS_UNMODELLED = (
    "FreeBoolField_01:B FreeBoolField_02:B FreeBoolField_03:B FreeBoolField_04:B FreeBoolField_05:B "
    "FreeDateField_01:T FreeDateField_02:T FreeDateField_03:T FreeDateField_04:T FreeDateField_05:T "
    "FreeNumberField_01:D FreeNumberField_02:D FreeNumberField_03:D FreeNumberField_04:D FreeNumberField_05:D "
    "FreeTextField_01:S FreeTextField_02:S FreeTextField_03:S FreeTextField_04:S FreeTextField_05:S Warehouse:G "
    "WarehouseCode:S WarehouseDescription:S"
)
_CONTACT_UNMODELLED = (
    "AllowMailing:I BirthName:S BirthNamePrefix:S IdentificationDate:T IdentificationDocument:G "
    "IdentificationUser:G IsAnonymised:Y LeadPurpose:G LeadSource:G MarketingNotes:S PartnerName:S "
    "PartnerNamePrefix:S PictureName:S PictureThumbnailUrl:S PictureUrl:S"
)

ACCOUNT = _properties(
    "ID:G Accountant:G AccountManager:G AccountManagerFullName:S ActivitySector:G ActivitySubSector:G "
    "AddressLine1:S AddressLine2:S AddressLine3:S Blocked:B BRIN:G BSN:S BusinessType:G ChamberOfCommerce:S City:S "
    "Classification:S Classification1:G Classification2:G Classification3:G Classification4:G Classification5:G "
    "Classification6:G Classification7:G Classification8:G Code:S CodeAtSupplier:S CompanySize:G Country:S "
    "CountryName:S " + _AUDIT + " Currency:S CustomerSince:T CustomField:S Email:S EndDate:T EORINumber:S "
    "EstablishedDate:T Fax:S GlnNumber:S InvoiceAccount:G InvoiceAccountCode:S InvoiceAccountName:S IsAccountant:Y "
    "IsAgency:B IsAnonymised:Y IsBank:B IsCompetitor:Y IsExtraDuty:B IsMailing:Y IsMember:B IsPilot:B IsPurchase:B "
    "IsReseller:B IsSales:B IsSupplier:B Language:S LanguageDescription:S LeadPurpose:G LeadSource:G MainContact:G "
    "Name:S OINNumber:S Parent:G PeppolIdentifier:S PeppolIdentifierType:I Phone:S PhoneExtension:S Postcode:S "
    "PriceList:G Remarks:S Reseller:G ResellerCode:S ResellerName:S RSIN:S SearchCode:S StartDate:T State:S "
    "StateName:S Status:S StatusSince:T TradeName:S Type:S UniqueTaxpayerReference:S VATLiability:S VATNumber:S "
    "Website:S " + _ACCOUNT_UNMODELLED
)

ADDRESS = _properties(
    "ID:G Account:G AccountIsSupplier:B AccountName:S AddressLine1:S AddressLine2:S AddressLine3:S City:S Contact:G "
    "ContactName:S Country:S CountryName:S " + _AUDIT + " Fax:S Mailbox:S Main:B NicNumber:S Notes:S Phone:S "
    "PhoneExtension:S Postcode:S State:S StateDescription:S Type:I " + _ADDRESS_UNMODELLED
)

CONTACT = _properties(
    "ID:G Account:G AccountIsCustomer:B AccountIsSupplier:B AccountMainContact:G AccountName:S AddressLine2:S "
    "AddressStreet:S AddressStreetNumber:S AddressStreetNumberSuffix:S BirthDate:T BirthPlace:S BusinessEmail:S "
    "BusinessFax:S BusinessMobile:S BusinessPhone:S BusinessPhoneExtension:S City:S Code:S Country:S "
    + _AUDIT
    + " Email:S EndDate:T FirstName:S FullName:S Gender:S HID:I Initials:S IsMailingExcluded:B IsMainContact:B "
    "JobTitleDescription:S Language:S LastName:S MiddleName:S Mobile:S Nationality:S Notes:S Person:G Phone:S "
    "PhoneExtension:S Postcode:S SocialSecurityNumber:S StartDate:T State:S Title:S TitleAbbreviation:S "
    "TitleDescription:S TitleSuffix:S " + _CONTACT_UNMODELLED
)

BANK_ACCOUNT = _properties(
    "ID:G Account:G AccountName:S BankAccount:S BankAccountHolderName:S BICCode:S Blocked:B " + _AUDIT + " "
    "Description:S Format:S Main:B PaymentServiceAccount:S Type:S TypeDescription:S"
)

SOLUTION_LINK = _properties(
    "ID:G Account:G AccountName:S " + _AUDIT + " ExternalSolutionCode:I ExternalSolutionName:S "
    "ExternalSolutionUrl:S InternalSolutionDivision:I InternalSolutionDivisionDescription:S Name:S "
    "OtherExternalSolutionName:S SolutionType:I Status:I"
)

RETURN = _properties(
    "DocumentID:G Amount:D Created:T Currency:S Description:S Division:I DocumentViewUrl:S DueDate:T Frequency:S "
    "PayrollDeclarationType:S Period:I PeriodDescription:S Request:G Status:I Subject:S Type:I Year:I"
)

PROCESS_RETURN = _properties("Request:G Status:I Processed:B")

GL_ACCOUNT = _properties(
    "ID:G AssimilatedVATBox:I BalanceSide:S BalanceType:S BelcotaxType:I Code:S Compress:B Costcenter:S "
    "CostcenterDescription:S Costunit:S CostunitDescription:S " + _AUDIT + " Description:S ExcludeVATListing:Y "
    "ExpenseNonDeductiblePercentage:D IsBlocked:B Matching:B PrivateGLAccount:G PrivatePercentage:D ReportingCode:S "
    "RevalueCurrency:B SearchCode:S Type:I TypeDescription:S UseCostcenter:Y UseCostunit:Y VATCode:S "
    "VATDescription:S VATGLAccountType:S VATNonDeductibleGLAccount:G VATNonDeductiblePercentage:D VATSystem:S "
    "YearEndCostGLAccount:G YearEndReflectionGLAccount:G"
)

TRANSACTION_LINE = _properties(
    "ID:G Account:G AccountCode:S AccountName:S AmountDC:D AmountFC:D AmountVATBaseFC:D AmountVATFC:D Asset:G "
    "AssetCode:S AssetDescription:S CostCenter:S CostCenterDescription:S CostUnit:S CostUnitDescription:S "
    + _AUDIT
    + " Currency:S Date:T Description:S Document:G DocumentNumber:I DocumentSubject:S DueDate:T EntryID:G "
    "EntryNumber:I ExchangeRate:D ExtraDutyAmountFC:D ExtraDutyPercentage:D FinancialPeriod:I FinancialYear:I "
    "GLAccount:G GLAccountCode:S GLAccountDescription:S InvoiceNumber:I Item:G ItemCode:S ItemDescription:S "
    "JournalCode:S JournalDescription:S LineNumber:I LineType:I Notes:S OrderNumber:I PaymentDiscountAmount:D "
    "PaymentReference:S Project:G ProjectCode:S ProjectDescription:S Quantity:D SerialNumber:S Status:Y "
    "Subscription:G SubscriptionDescription:S TrackingNumber:S TrackingNumberDescription:S Type:I VATCode:S "
    "VATCodeDescription:S VATPercentage:D VATType:S YourRef:S"
)

DIVISION = _properties(
    "Code:I AddressLine1:S AddressLine2:S AddressLine3:S ArchiveDate:T BlockingStatus:I BusinessTypeCode:S "
    "BusinessTypeDescription:S ChamberOfCommerceEstablishment:S ChamberOfCommerceNumber:S City:S Class_01:S "
    "Class_02:S Class_03:S Class_04:S Class_05:S CompanySizeCode:S CompanySizeDescription:S Country:S "
    "CountryDescription:S Created:T Creator:G CreatorFullName:S Currency:S CurrencyDescription:S Current:B "
    "Customer:G CustomerCode:S CustomerName:S DivisionHRLinkUnlinkDate:T DivisionMoveDate:T Description:S Email:S "
    "Fax:S Hid:L IsDossierDivision:B IsHRDivision:B IsMainDivision:B IsPracticeDivision:B Legislation:S "
    "Modified:T Modifier:G ModifierFullName:S OBNumber:S Phone:S Postcode:S SbiCode:S SbiDescription:S "
    "SectorCode:S SectorDescription:S ShareCapital:D SiretNumber:S StartDate:T State:S Status:I "
    "SubsectorCode:S SubsectorDescription:S TaxOfficeNumber:S TaxReferenceNumber:S TemplateCode:S VATNumber:S "
    "Website:S"
)

ME = _properties(
    "UserID:G AccountingDivision:I CurrentDivision:I CustomerCode:S DivisionCustomer:G DivisionCustomerCode:S "
    "DivisionCustomerName:S DivisionCustomerSiretNumber:S DivisionCustomerVatNumber:S DossierDivision:I Email:S "
    "EmployeeID:G FirstName:S FullName:S Gender:S Initials:S IsClientUser:B IsEmployeeSelfServiceUser:B "
    "IsMyFirmLiteUser:B IsMyFirmPortalUser:B IsOEIMigrationMandatory:B IsStarterUser:B LanguageCode:S LastName:S "
    "Legislation:S MiddleName:S Mobile:S Nationality:S PackageCode:S Phone:S PhoneExtension:S PictureUrl:S "
    "ServerTime:S ServerUtcOffset:D ThumbnailPicture:S ThumbnailPictureFormat:S Title:S UserName:S"
)

DELETED = _properties("Timestamp:L DeletedBy:G DeletedDate:T Division:I EntityKey:G EntityType:I FullName:S ID:G")

# Properties that may appear in a POST/PUT body but are set by the server, never by the client.
READ_ONLY = frozenset(
    {
        "Created",
        "Creator",
        "CreatorFullName",
        "Modified",
        "Modifier",
        "ModifierFullName",
        "Division",
        "Timestamp",
        "AccountName",
        "AccountIsSupplier",
        "AccountIsCustomer",
        "CountryName",
        "FullName",
        "InternalSolutionDivisionDescription",
    }
)
