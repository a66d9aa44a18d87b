// Everything Koppel needs in Azure: a Python Function App on Flex Consumption, its storage
// account (host storage and Koppel's tables), a Service Bus namespace and queue for batch jobs,
// Application Insights, and a Key Vault holding the client and webhook secrets, referenced from
// app settings so the secrets never sit in plain configuration.
//
// No keys: one user-assigned managed identity reaches Storage, Service Bus, Key Vault and
// Application Insights (`__accountName`, `__fullyQualifiedNamespace`, Key Vault references, AAD
// telemetry); shared-key and SAS access are switched off on every service. The identity and all
// of its role assignments exist before the Function App, so the app's first Key Vault reference
// lookup and first trigger listen never race a role assignment.
//
// From a clean resource group, in one command (README, "Administrator's path"):
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.parameters.json
// Every app setting core/settings.py reads is set below (tests/unit/test_infra.py checks it, with
// a real Bicep parser, and runs checkov over this file).

@description('Base name for all resources.')
param name string = 'koppel'
param location string = resourceGroup().location

@description('Business Central: Entra tenant, environment and company of the integration.')
param erpTenantId string
param erpEnvironment string = 'production'
param erpCompanyId string
param erpClientId string

@description('Dataverse environment URL, e.g. https://contoso.crm4.dynamics.com')
param crmUrl string
param crmTenantId string
param crmClientId string

@description('Public URL of the app, for webhook subscriptions (defaults to the Function App host).')
param publicUrl string = ''
@description('Optional URL that receives a small JSON POST when a mapping pauses itself (X12).')
param notifyUrl string = ''

@description('When the Key Vault copies of the secrets expire: the longest an Entra client secret lives (24 months).')
param secretsExpireOn string = dateTimeAdd(utcNow(), 'P2Y')

@secure()
@description('Client secret of the app registration that Business Central accepts (stored in Key Vault).')
param erpClientSecret string
@secure()
@description('Client secret of the app registration that Dataverse accepts (stored in Key Vault).')
param crmClientSecret string
@secure()
@description('Shared secret Dataverse webhooks send in the x-koppel-secret header.')
param webhookSecret string

var suffix = uniqueString(resourceGroup().id)
// Storage account names are 3-24 lowercase letters and digits.
var storageName = toLower(take(replace('${name}${suffix}', '-', ''), 24))
var appName = '${name}-${suffix}'
var secretsExpire = dateTimeToEpoch(secretsExpireOn)

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// The app's identity: created first, so every role below is in place before the app starts.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id-${suffix}'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  // Geo-redundant: the tables hold every coupling, which no other copy has.
  sku: { name: 'Standard_GRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: { deleteRetentionPolicy: { enabled: true, days: 7 } }
}

resource deployContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'app-package'
  properties: { publicAccess: 'None' }
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${name}-${suffix}'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
  properties: { disableLocalAuth: true, minimumTlsVersion: '1.2' }
}

resource jobsQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: serviceBus
  name: 'koppel-jobs'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    lockDuration: 'PT5M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: { Application_Type: 'web', WorkspaceResourceId: logs.id, DisableLocalAuth: true }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${name}-kv-${suffix}', 24)
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
  }
}

resource erpSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'erp-client-secret'
  properties: { value: erpClientSecret, contentType: 'text/plain', attributes: { exp: secretsExpire } }
}

resource crmSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'crm-client-secret'
  properties: { value: crmClientSecret, contentType: 'text/plain', attributes: { exp: secretsExpire } }
}

resource hookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'webhook-secret'
  properties: { value: webhookSecret, contentType: 'text/plain', attributes: { exp: secretsExpire } }
}

// Every role the app needs, on the narrowest scope, granted to the identity before the app exists.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.blobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.queueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.tableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource busSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobsQueue.id, identity.id, roles.serviceBusDataSender)
  scope: jobsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource busReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobsQueue.id, identity.id, roles.serviceBusDataReceiver)
  scope: jobsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identity.id}': {} } }
  // Explicit: the settings below reference the vault's secrets and the identity, not the role
  // assignments, so without this the app could start and resolve references before its roles exist.
  dependsOn: [ blobOwner, queueContributor, tableContributor, busSender, busReceiver, secretsUser, metricsPublisher ]
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deployContainer.name}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The ribbon's script runs in the Dynamics 365 page and calls /api/crm/sync from there.
      cors: { allowedOrigins: [ crmUrl ] }
      appSettings: [
        // Functions host storage through the identity (no AccountKey anywhere).
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        // azure-identity's DefaultAzureCredential in the app picks the user-assigned identity by this.
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        // Koppel's tables: an endpoint URL instead of a connection string means "use the identity".
        { name: 'KOPPEL_STORAGE', value: storage.properties.primaryEndpoints.table }
        // The worker's trigger (and the sender) reach Service Bus through the identity.
        { name: 'KOPPEL_SERVICEBUS__fullyQualifiedNamespace', value: '${serviceBus.name}.servicebus.windows.net' }
        { name: 'KOPPEL_SERVICEBUS__credential', value: 'managedidentity' }
        { name: 'KOPPEL_SERVICEBUS__clientId', value: identity.properties.clientId }
        { name: 'KOPPEL_QUEUE_NAME', value: jobsQueue.name }
        { name: 'KOPPEL_PUBLIC_URL', value: empty(publicUrl) ? 'https://${appName}.azurewebsites.net' : publicUrl }
        { name: 'KOPPEL_NOTIFY_URL', value: notifyUrl }
        { name: 'KOPPEL_WEBHOOK_SECRET', value: '@Microsoft.KeyVault(SecretUri=${hookSecret.properties.secretUri})' }
        { name: 'ERP_TENANT_ID', value: erpTenantId }
        { name: 'ERP_ENVIRONMENT', value: erpEnvironment }
        { name: 'ERP_COMPANY_ID', value: erpCompanyId }
        { name: 'ERP_CLIENT_ID', value: erpClientId }
        { name: 'ERP_CLIENT_SECRET', value: '@Microsoft.KeyVault(SecretUri=${erpSecret.properties.secretUri})' }
        { name: 'ERP_BASE_URL', value: 'https://api.businesscentral.dynamics.com' }
        { name: 'ERP_WEB_CLIENT_URL', value: 'https://businesscentral.dynamics.com' }
        { name: 'ERP_AUTHORITY_HOST', value: environment().authentication.loginEndpoint }
        { name: 'CRM_URL', value: crmUrl }
        { name: 'CRM_TENANT_ID', value: crmTenantId }
        { name: 'CRM_CLIENT_ID', value: crmClientId }
        { name: 'CRM_CLIENT_SECRET', value: '@Microsoft.KeyVault(SecretUri=${crmSecret.properties.secretUri})' }
        { name: 'CRM_AUTHORITY_HOST', value: environment().authentication.loginEndpoint }
      ]
    }
  }
}

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output identityClientId string = identity.properties.clientId
