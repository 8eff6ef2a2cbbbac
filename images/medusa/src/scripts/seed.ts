/**
 * Storefleet store setup for Medusa v2: run with `medusa exec ./src/scripts/seed.ts`
 * after `medusa db:migrate`. The chart's setup Job and the native test harness run
 * this same file.
 *
 * Idempotent: every object is looked up (by name, handle, SKU or title) before it is
 * created, and links are added only when missing, so a second run finds everything
 * and changes nothing (except converging the store name and admin password to the
 * current inputs).
 *
 * Creates: sales channel; region (payment provider pp_system_default) and tax regions;
 * stock location linked to the sales channel and to fulfillment provider
 * manual_manual; fulfillment set + service zone; flat-rate shipping option; one
 * published product with a price and stock; publishable API key linked to the sales
 * channel; an admin user (emailpass identity).
 *
 * Inputs (environment; defaults in brackets):
 *   STORE_NAME [Storefleet store]         STORE_CURRENCY [eur]
 *   STORE_COUNTRIES [de,at,fr,nl,be,dk,se,es,it,gb]  (ISO-2, comma-separated)
 *   REGION_NAME [Storefleet region]       SALES_CHANNEL_NAME [Default Sales Channel]
 *   STOCK_LOCATION_NAME [Storefleet warehouse]
 *   SHIPPING_OPTION_NAME [Standard shipping]  SHIPPING_PRICE [5]
 *   PRODUCT_TITLE [Storefleet demo product]   PRODUCT_HANDLE [storefleet-demo]
 *   PRODUCT_SKU [STOREFLEET-DEMO-1]       PRODUCT_PRICE [20]  PRODUCT_STOCK [1000000]
 *   PUBLISHABLE_KEY_TITLE [Storefleet storefront]
 *   ADMIN_EMAIL, ADMIN_PASSWORD           (both set = ensure this admin user exists)
 * Outputs:
 *   SEED_OUTPUT_FILE                      write the result as JSON to this path
 *   OUTPUT_SECRET_NAME                    in a cluster: set keys publishable-key,
 *                                         region-id, sales-channel-id, product-id,
 *                                         variant-id on this Secret of the pod's namespace
 * Amounts are in the currency's main unit (20 = 20.00 EUR), as Medusa v2 stores them.
 */
import fs from "node:fs"
import type { ExecArgs } from "@medusajs/framework/types"
import {
  ContainerRegistrationKeys,
  FeatureFlag,
  Modules,
  ProductStatus,
} from "@medusajs/framework/utils"
import {
  createApiKeysWorkflow,
  createInventoryLevelsWorkflow,
  createProductsWorkflow,
  createRegionsWorkflow,
  createSalesChannelsWorkflow,
  createShippingOptionsWorkflow,
  createShippingProfilesWorkflow,
  createStockLocationsWorkflow,
  createTaxRegionsWorkflow,
  createUsersWorkflow,
  linkProductsToSalesChannelWorkflow,
  linkSalesChannelsToApiKeyWorkflow,
  linkSalesChannelsToStockLocationWorkflow,
  updateRegionsWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"
import { inCluster, upsertSecretData } from "../lib/k8s-secret"

const env = (name: string, fallback: string): string => {
  const v = process.env[name]
  return v === undefined || v.trim() === "" ? fallback : v.trim()
}

const num = (name: string, fallback: number): number => {
  const raw = env(name, String(fallback))
  const v = Number(raw)
  if (!Number.isFinite(v) || v < 0) {
    throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`)
  }
  return v
}

export type SeedResult = {
  publishable_key: string
  publishable_key_id: string
  sales_channel_id: string
  region_id: string
  currency_code: string
  countries: string[]
  stock_location_id: string
  fulfillment_set_id: string
  service_zone_id: string
  shipping_profile_id: string
  shipping_option_id: string
  product_id: string
  product_handle: string
  variant_id: string
  admin_user_id: string | null
  created: string[]
}

export default async function storefleetSeed({ container }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const storeService = container.resolve(Modules.STORE)
  const salesChannelService = container.resolve(Modules.SALES_CHANNEL)
  const regionService = container.resolve(Modules.REGION)
  const taxService = container.resolve(Modules.TAX)
  const stockLocationService = container.resolve(Modules.STOCK_LOCATION)
  const fulfillmentService = container.resolve(Modules.FULFILLMENT)
  const apiKeyService = container.resolve(Modules.API_KEY)
  const productService = container.resolve(Modules.PRODUCT)
  const inventoryService = container.resolve(Modules.INVENTORY)
  const userService = container.resolve(Modules.USER)
  const authService = container.resolve(Modules.AUTH)

  const cfg = {
    storeName: env("STORE_NAME", "Storefleet store"),
    currency: env("STORE_CURRENCY", "eur").toLowerCase(),
    countries: env("STORE_COUNTRIES", "de,at,fr,nl,be,dk,se,es,it,gb")
      .split(",")
      .map((c) => c.trim().toLowerCase())
      .filter(Boolean),
    regionName: env("REGION_NAME", "Storefleet region"),
    salesChannelName: env("SALES_CHANNEL_NAME", "Default Sales Channel"),
    locationName: env("STOCK_LOCATION_NAME", "Storefleet warehouse"),
    shippingOptionName: env("SHIPPING_OPTION_NAME", "Standard shipping"),
    shippingPrice: num("SHIPPING_PRICE", 5),
    productTitle: env("PRODUCT_TITLE", "Storefleet demo product"),
    productHandle: env("PRODUCT_HANDLE", "storefleet-demo"),
    productSku: env("PRODUCT_SKU", "STOREFLEET-DEMO-1"),
    productPrice: num("PRODUCT_PRICE", 20),
    productStock: num("PRODUCT_STOCK", 1_000_000),
    keyTitle: env("PUBLISHABLE_KEY_TITLE", "Storefleet storefront"),
    adminEmail: env("ADMIN_EMAIL", ""),
    adminPassword: process.env.ADMIN_PASSWORD ?? "",
  }
  if (!/^[a-z]{3}$/.test(cfg.currency)) {
    throw new Error(`STORE_CURRENCY must be a 3-letter ISO code, got ${cfg.currency}`)
  }
  if (!cfg.countries.length || cfg.countries.some((c) => !/^[a-z]{2}$/.test(c))) {
    throw new Error(`STORE_COUNTRIES must be ISO-2 codes, got ${cfg.countries.join(",")}`)
  }

  const created: string[] = []
  const step = (msg: string) => logger.info(`[storefleet-seed] ${msg}`)
  const made = (what: string, id: string) => {
    created.push(what)
    step(`created ${what} ${id}`)
  }
  const found = (what: string, id: string) => step(`found ${what} ${id}`)

  // ---- store, sales channel -------------------------------------------------------
  const [store] = await storeService.listStores({}, { relations: ["supported_currencies"] })
  if (!store) {
    throw new Error("no store row: run `medusa db:migrate` first (it creates the defaults)")
  }

  let [salesChannel] = await salesChannelService.listSalesChannels({
    name: cfg.salesChannelName,
  })
  if (salesChannel) {
    found("sales channel", salesChannel.id)
  } else {
    const { result } = await createSalesChannelsWorkflow(container).run({
      input: { salesChannelsData: [{ name: cfg.salesChannelName }] },
    })
    salesChannel = result[0]
    made("sales channel", salesChannel.id)
  }

  // ---- region + tax regions -------------------------------------------------------
  let [region] = await regionService.listRegions(
    { name: cfg.regionName },
    { relations: ["countries"] }
  )
  if (region) {
    found("region", region.id)
  } else {
    // A country can belong to one region only: refuse clearly instead of failing deep
    // inside the workflow when another region already claims one of ours.
    const taken = (await regionService.listRegions({}, { relations: ["countries"] }))
      .flatMap((r) => (r.countries ?? []).map((c) => ({ c: c.iso_2, r: r.name })))
      .filter(({ c }) => cfg.countries.includes(c))
    if (taken.length) {
      throw new Error(
        `countries already in other regions: ${taken.map((t) => `${t.c} (${t.r})`).join(", ")}`
      )
    }
    const { result } = await createRegionsWorkflow(container).run({
      input: {
        regions: [
          {
            name: cfg.regionName,
            currency_code: cfg.currency,
            countries: cfg.countries,
            payment_providers: ["pp_system_default"],
          },
        ],
      },
    })
    region = result[0]
    made("region", region.id)
  }
  {
    const { data } = await query.graph({
      entity: "region",
      fields: ["id", "payment_providers.id"],
      filters: { id: region.id },
    })
    const providers: string[] = (data[0]?.payment_providers ?? [])
      .filter(Boolean)
      .map((p: { id: string }) => p.id)
    if (!providers.includes("pp_system_default")) {
      await updateRegionsWorkflow(container).run({
        input: {
          selector: { id: region.id },
          update: { payment_providers: [...providers, "pp_system_default"] },
        },
      })
      made("region payment provider pp_system_default on", region.id)
    }
  }

  const existingTax = await taxService.listTaxRegions({ country_code: cfg.countries })
  const missingTax = cfg.countries.filter(
    (c) => !existingTax.some((t) => t.country_code === c && !t.parent_id)
  )
  if (missingTax.length) {
    await createTaxRegionsWorkflow(container).run({
      input: missingTax.map((country_code) => ({ country_code, provider_id: "tp_system" })),
    })
    made("tax regions", missingTax.join(","))
  }

  // ---- store settings ------------------------------------------------------------
  const currencies = (store.supported_currencies ?? []).map((c) => c.currency_code)
  const storeUpdate: Record<string, unknown> = {}
  if (store.name !== cfg.storeName) storeUpdate.name = cfg.storeName
  if (!currencies.includes(cfg.currency) ||
      store.supported_currencies?.find((c) => c.is_default)?.currency_code !== cfg.currency) {
    storeUpdate.supported_currencies = [
      { currency_code: cfg.currency, is_default: true },
      ...currencies
        .filter((c) => c !== cfg.currency)
        .map((currency_code) => ({ currency_code, is_default: false })),
    ]
  }
  if (store.default_sales_channel_id !== salesChannel.id) {
    storeUpdate.default_sales_channel_id = salesChannel.id
  }
  if (store.default_region_id !== region.id) storeUpdate.default_region_id = region.id

  // ---- stock location + links ----------------------------------------------------
  let [location] = await stockLocationService.listStockLocations({ name: cfg.locationName })
  if (location) {
    found("stock location", location.id)
  } else {
    const { result } = await createStockLocationsWorkflow(container).run({
      input: {
        locations: [
          {
            name: cfg.locationName,
            address: { address_1: "", city: "", country_code: cfg.countries[0].toUpperCase() },
          },
        ],
      },
    })
    location = result[0]
    made("stock location", location.id)
  }
  if (store.default_location_id !== location.id) storeUpdate.default_location_id = location.id
  if (Object.keys(storeUpdate).length) {
    await updateStoresWorkflow(container).run({
      input: { selector: { id: store.id }, update: storeUpdate as any },
    })
    step(`updated store ${store.id}: ${Object.keys(storeUpdate).join(", ")}`)
  }

  const locationLinks = async () => {
    const { data } = await query.graph({
      entity: "stock_location",
      fields: [
        "id",
        "sales_channels.id",
        "fulfillment_providers.id",
        "fulfillment_sets.id",
        "fulfillment_sets.name",
      ],
      filters: { id: location.id },
    })
    const row = data[0] ?? {}
    const ids = (xs: any[] | undefined) => (xs ?? []).filter(Boolean).map((x) => x.id)
    return {
      salesChannels: ids(row.sales_channels),
      providers: ids(row.fulfillment_providers),
      sets: (row.fulfillment_sets ?? []).filter(Boolean) as { id: string; name: string }[],
    }
  }
  let links = await locationLinks()

  if (!links.providers.includes("manual_manual")) {
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_provider_id: "manual_manual" },
    })
    made("link stock location -> fulfillment provider manual_manual", location.id)
  }
  if (!links.salesChannels.includes(salesChannel.id)) {
    await linkSalesChannelsToStockLocationWorkflow(container).run({
      input: { id: location.id, add: [salesChannel.id] },
    })
    made("link stock location -> sales channel", salesChannel.id)
  }

  // ---- shipping profile, fulfillment set, service zone, shipping option ----------
  let [profile] = await fulfillmentService.listShippingProfiles({ type: "default" })
  if (profile) {
    found("shipping profile", profile.id)
  } else {
    const { result } = await createShippingProfilesWorkflow(container).run({
      input: { data: [{ name: "Default Shipping Profile", type: "default" }] },
    })
    profile = result[0]
    made("shipping profile", profile.id)
  }

  const setName = `${cfg.locationName} delivery`
  let [fulfillmentSet] = await fulfillmentService.listFulfillmentSets(
    { name: setName },
    { relations: ["service_zones", "service_zones.geo_zones"] }
  )
  if (fulfillmentSet) {
    found("fulfillment set", fulfillmentSet.id)
  } else {
    fulfillmentSet = await fulfillmentService.createFulfillmentSets({
      name: setName,
      type: "shipping",
      service_zones: [
        {
          name: cfg.regionName,
          geo_zones: cfg.countries.map((country_code) => ({
            type: "country" as const,
            country_code,
          })),
        },
      ],
    })
    made("fulfillment set + service zone", fulfillmentSet.id)
    // re-read with relations so service_zones is populated
    ;[fulfillmentSet] = await fulfillmentService.listFulfillmentSets(
      { id: fulfillmentSet.id },
      { relations: ["service_zones", "service_zones.geo_zones"] }
    )
  }
  let zone = (fulfillmentSet.service_zones ?? []).find((z) => z.name === cfg.regionName)
  if (!zone) {
    zone = await fulfillmentService.createServiceZones({
      fulfillment_set_id: fulfillmentSet.id,
      name: cfg.regionName,
      geo_zones: cfg.countries.map((country_code) => ({
        type: "country" as const,
        country_code,
      })),
    })
    made("service zone", zone.id)
  }
  links = await locationLinks()
  if (!links.sets.some((s) => s.id === fulfillmentSet.id)) {
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_set_id: fulfillmentSet.id },
    })
    made("link stock location -> fulfillment set", fulfillmentSet.id)
  }

  let [shippingOption] = await fulfillmentService.listShippingOptions({
    name: cfg.shippingOptionName,
    service_zone: { id: zone.id },
  } as any)
  if (shippingOption) {
    found("shipping option", shippingOption.id)
  } else {
    const { result } = await createShippingOptionsWorkflow(container).run({
      input: [
        {
          name: cfg.shippingOptionName,
          price_type: "flat",
          provider_id: "manual_manual",
          service_zone_id: zone.id,
          shipping_profile_id: profile.id,
          type: {
            label: "Standard",
            description: "Delivered in 2-3 days.",
            code: "standard",
          },
          prices: [
            { currency_code: cfg.currency, amount: cfg.shippingPrice },
            { region_id: region.id, amount: cfg.shippingPrice },
          ],
          rules: [
            { attribute: "enabled_in_store", value: "true", operator: "eq" },
            { attribute: "is_return", value: "false", operator: "eq" },
          ],
        },
      ],
    })
    shippingOption = result[0] as any
    made("shipping option", shippingOption.id)
  }

  // ---- publishable API key -------------------------------------------------------
  let [apiKey] = await apiKeyService.listApiKeys({
    type: "publishable",
    title: cfg.keyTitle,
    revoked_at: null,
  } as any)
  if (apiKey) {
    found("publishable API key", apiKey.id)
  } else {
    const { result } = await createApiKeysWorkflow(container).run({
      input: { api_keys: [{ title: cfg.keyTitle, type: "publishable", created_by: "" }] },
    })
    apiKey = result[0]
    made("publishable API key", apiKey.id)
  }
  {
    const { data } = await query.graph({
      entity: "api_key",
      fields: ["id", "sales_channels.id"],
      filters: { id: apiKey.id },
    })
    const channels = (data[0]?.sales_channels ?? []).filter(Boolean).map((s: any) => s.id)
    if (!channels.includes(salesChannel.id)) {
      await linkSalesChannelsToApiKeyWorkflow(container).run({
        input: { id: apiKey.id, add: [salesChannel.id] },
      })
      made("link publishable key -> sales channel", salesChannel.id)
    }
  }

  // ---- product, price, stock -----------------------------------------------------
  let [product] = await productService.listProducts(
    { handle: cfg.productHandle },
    { relations: ["variants"] }
  )
  if (product) {
    found("product", product.id)
  } else {
    const { result } = await createProductsWorkflow(container).run({
      input: {
        products: [
          {
            title: cfg.productTitle,
            handle: cfg.productHandle,
            description: "A demo product created by Storefleet so the store can take a test order.",
            status: ProductStatus.PUBLISHED,
            shipping_profile_id: profile.id,
            options: [{ title: "Edition", values: ["Standard"] }],
            variants: [
              {
                title: "Standard",
                sku: cfg.productSku,
                manage_inventory: true,
                allow_backorder: false,
                options: { Edition: "Standard" },
                prices: [{ amount: cfg.productPrice, currency_code: cfg.currency }],
              },
            ],
            sales_channels: [{ id: salesChannel.id }],
          },
        ],
      },
    })
    made("product", result[0].id)
    ;[product] = await productService.listProducts(
      { id: result[0].id },
      { relations: ["variants"] }
    )
  }
  const variant =
    (product.variants ?? []).find((v) => v.sku === cfg.productSku) ?? product.variants?.[0]
  if (!variant) {
    throw new Error(`product ${product.id} has no variant`)
  }

  const { data: productRows } = await query.graph({
    entity: "product",
    fields: ["id", "sales_channels.id", "variants.id", "variants.inventory_items.inventory_item_id"],
    filters: { id: product.id },
  })
  const productRow: any = productRows[0] ?? {}
  const productChannels = (productRow.sales_channels ?? []).filter(Boolean).map((s: any) => s.id)
  if (!productChannels.includes(salesChannel.id)) {
    await linkProductsToSalesChannelWorkflow(container).run({
      input: { id: salesChannel.id, add: [product.id] },
    })
    made("link product -> sales channel", product.id)
  }
  const variantRow = (productRow.variants ?? []).find((v: any) => v?.id === variant.id)
  const inventoryItemIds: string[] = (variantRow?.inventory_items ?? [])
    .filter(Boolean)
    .map((i: any) => i.inventory_item_id)
  if (variant.manage_inventory !== false) {
    if (!inventoryItemIds.length) {
      throw new Error(`variant ${variant.id} manages inventory but has no inventory item`)
    }
    const levels = await inventoryService.listInventoryLevels({
      inventory_item_id: inventoryItemIds,
      location_id: location.id,
    })
    const missing = inventoryItemIds.filter(
      (id) => !levels.some((l) => l.inventory_item_id === id)
    )
    if (missing.length) {
      await createInventoryLevelsWorkflow(container).run({
        input: {
          inventory_levels: missing.map((inventory_item_id) => ({
            inventory_item_id,
            location_id: location.id,
            stocked_quantity: cfg.productStock,
          })),
        },
      })
      made("inventory level", `${missing.join(",")}@${location.id}`)
    }
  }

  // ---- admin user ----------------------------------------------------------------
  let adminUserId: string | null = null
  if (cfg.adminEmail && cfg.adminPassword) {
    let [user] = await userService.listUsers({ email: cfg.adminEmail })
    if (user) {
      found("admin user", user.id)
    } else {
      // Same steps as `medusa user -e … -p …`, which is not re-runnable.
      let roles: string[] = []
      if (FeatureFlag.isFeatureEnabled("rbac")) {
        const rbac: any = container.resolve(Modules.RBAC)
        const superAdmin = await rbac.listRbacRoles({ id: "role_super_admin" })
        roles = superAdmin.map((r: any) => r.id)
      }
      const { result } = await createUsersWorkflow(container).run({
        input: { users: [{ email: cfg.adminEmail, ...(roles.length ? { roles } : {}) } as any] },
      })
      user = result[0]
      made("admin user", user.id)
    }
    adminUserId = user.id

    const identities = await authService.listProviderIdentities(
      { entity_id: cfg.adminEmail, provider: "emailpass" },
      { relations: ["auth_identity"] }
    )
    if (!identities.length) {
      const { success, authIdentity, error } = await authService.register("emailpass", {
        body: { email: cfg.adminEmail, password: cfg.adminPassword },
      } as any)
      if (!success || !authIdentity) {
        throw new Error(`registering admin identity failed: ${error}`)
      }
      await authService.updateAuthIdentities({
        id: authIdentity.id,
        app_metadata: { user_id: user.id },
      })
      made("admin auth identity", authIdentity.id)
    } else {
      const identity: any = identities[0].auth_identity
      if (identity && identity.app_metadata?.user_id !== user.id) {
        await authService.updateAuthIdentities({
          id: identity.id,
          app_metadata: { ...(identity.app_metadata ?? {}), user_id: user.id },
        })
        step(`re-linked admin identity ${identity.id} to user ${user.id}`)
      }
      // Converge to the current password (the platform's Secret is the source of truth).
      const { success, error } = await authService.updateProvider("emailpass", {
        entity_id: cfg.adminEmail,
        password: cfg.adminPassword,
      })
      if (!success) {
        throw new Error(`updating admin password failed: ${error}`)
      }
      step("admin password set from ADMIN_PASSWORD")
    }
  } else {
    step("ADMIN_EMAIL/ADMIN_PASSWORD not set: no admin user")
  }

  // ---- outputs -------------------------------------------------------------------
  const result: SeedResult = {
    publishable_key: apiKey.token,
    publishable_key_id: apiKey.id,
    sales_channel_id: salesChannel.id,
    region_id: region.id,
    currency_code: cfg.currency,
    countries: cfg.countries,
    stock_location_id: location.id,
    fulfillment_set_id: fulfillmentSet.id,
    service_zone_id: zone.id,
    shipping_profile_id: profile.id,
    shipping_option_id: shippingOption.id,
    product_id: product.id,
    product_handle: cfg.productHandle,
    variant_id: variant.id,
    admin_user_id: adminUserId,
    created,
  }

  const outFile = env("SEED_OUTPUT_FILE", "")
  if (outFile) {
    fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + "\n", { mode: 0o600 })
    step(`wrote ${outFile}`)
  }
  const secretName = env("OUTPUT_SECRET_NAME", "")
  if (secretName) {
    if (!inCluster()) {
      throw new Error("OUTPUT_SECRET_NAME is set but no service-account token is mounted")
    }
    const how = await upsertSecretData(
      secretName,
      {
        "publishable-key": result.publishable_key,
        "region-id": result.region_id,
        "sales-channel-id": result.sales_channel_id,
        "product-id": result.product_id,
        "variant-id": result.variant_id,
      },
      { "app.kubernetes.io/part-of": "storefleet" }
    )
    step(`${how} secret ${secretName}`)
  }
  // One machine-readable line for log scrapers; the publishable key is public by
  // design (storefronts send it in every request).
  step(
    `done: ${created.length ? `created ${created.length} object(s)` : "nothing to create"}; ` +
      `result=${JSON.stringify({ ...result, created: undefined })}`
  )
}
