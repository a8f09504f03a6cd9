/* Host model of ESP-IDF v5.5 components/spi_flash/include/spi_flash_mmap.h */
#ifndef SPI_FLASH_MMAP_H
#define SPI_FLASH_MMAP_H
#define SPI_FLASH_SEC_SIZE 4096 /**< SPI Flash sector size */
#endif
