//! Plausible addresses for test orders: WooCommerce validates postcodes per country and
//! Medusa only ships to countries in the cart's region, so the check picks a country the
//! store serves and an address that passes that country's format checks.

/// A postal address in one country (ISO 3166-1 alpha-2, upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Address {
    pub country: &'static str,
    pub city: &'static str,
    pub postcode: &'static str,
    pub address_1: &'static str,
    /// Only where the country requires a state/province (WooCommerce checks it).
    pub state: &'static str,
}

pub(crate) const FIRST_NAME: &str = "Storefleet";
pub(crate) const LAST_NAME: &str = "Order Check";
pub(crate) const PHONE: &str = "+49 30 0000000";

const fn a(
    country: &'static str,
    city: &'static str,
    postcode: &'static str,
    address_1: &'static str,
    state: &'static str,
) -> Address {
    Address {
        country,
        city,
        postcode,
        address_1,
        state,
    }
}

/// In order of preference; Germany first (the charts' default store country).
const ADDRESSES: &[Address] = &[
    a("DE", "Berlin", "10115", "Invalidenstraße 1", ""),
    a("AT", "Wien", "1010", "Stephansplatz 1", ""),
    a("NL", "Amsterdam", "1012 JS", "Dam 1", ""),
    a("FR", "Paris", "75001", "1 Rue de Rivoli", ""),
    a("BE", "Bruxelles", "1000", "Grand-Place 1", ""),
    a("DK", "København", "1050", "Kongens Nytorv 1", ""),
    a("SE", "Stockholm", "111 29", "Stortorget 1", ""),
    a("ES", "Madrid", "28013", "Calle Mayor 1", "M"),
    a("IT", "Roma", "00186", "Via del Corso 1", "RM"),
    a("GB", "London", "SW1A 1AA", "1 Test Street", ""),
    a("US", "San Francisco", "94103", "1 Market Street", "CA"),
    a("CA", "Toronto", "M5H 2N2", "1 Queen Street West", "ON"),
];

/// The address for `country` (any case) when the check knows one.
pub(crate) fn for_country(country: &str) -> Option<Address> {
    ADDRESSES
        .iter()
        .find(|a| a.country.eq_ignore_ascii_case(country.trim()))
        .copied()
}

/// The first known address among `countries`, in the check's preference order.
pub(crate) fn pick<'a>(countries: impl IntoIterator<Item = &'a str> + Clone) -> Option<Address> {
    ADDRESSES
        .iter()
        .find(|a| {
            countries
                .clone()
                .into_iter()
                .any(|c| c.eq_ignore_ascii_case(a.country))
        })
        .copied()
}

/// The default: Germany.
pub(crate) fn default() -> Address {
    ADDRESSES[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_preference_not_by_input_order() {
        assert_eq!(pick(["gb", "de"]).unwrap().country, "DE");
        assert_eq!(pick(["se"]).unwrap().country, "SE");
        assert_eq!(for_country("us").unwrap().state, "CA");
        assert!(for_country("zz").is_none());
        assert!(pick(Vec::<&str>::new()).is_none());
    }
}
