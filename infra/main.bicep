// Everything Koppel needs in Azure: a Python Function App on Flex Consumption, its storage
// account (host storage and Koppel's tables), a Service Bus namespace and queue for batch jobs,
// Application Insights, and a Key Vault holding the two client secrets, referenced from app
// settings so the secrets never sit in plain configuration.
// Every app setting core/settings.py reads is set below (tests/unit/test_infra.py checks it).

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
var storageName = toLower(take('${name}${suffix}', 24))

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deployContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'app-package'
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${name}-${suffix}'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
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

resource sendListen 'Microsoft.ServiceBus/namespaces/authorizationRules@2022-10-01-preview' = {
  parent: serviceBus
  name: 'koppel-app'
  properties: { rights: [ 'Send', 'Listen' ] }
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
  properties: { Application_Type: 'web', WorkspaceResourceId: logs.id }
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
  properties: { value: erpClientSecret }
}

resource crmSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'crm-client-secret'
  properties: { value: crmClientSecret }
}

resource hookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'webhook-secret'
  properties: { value: webhookSecret }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${name}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}app-package'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'AzureWebJobsStorage', value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'KOPPEL_STORAGE', value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}' }
        { name: 'KOPPEL_SERVICEBUS', value: listKeys(sendListen.id, sendListen.apiVersion).primaryConnectionString }
        { name: 'KOPPEL_QUEUE_NAME', value: jobsQueue.name }
        { name: 'KOPPEL_PUBLIC_URL', value: empty(publicUrl) ? 'https://${name}-${suffix}.azurewebsites.net' : publicUrl }
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

// The app reads its secrets from Key Vault with its own identity.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, app.id, 'secrets-user')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Flex Consumption deploys from the blob container with the app's identity.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, app.id, 'blob-owner')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
